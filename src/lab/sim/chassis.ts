/**
 * chassis_control program of a simulated node's ipmi_sim (the sim
 * counterpart of bmc-config.ts renderChassisScript, same calling
 * convention and the same rules: well under 1 s, idempotent, lab.md
 * gotcha 4). Power is the node's `power` file, `1 <generation>` or `0`,
 * which the simulator (daemon.ts) follows; a new generation is a new
 * power-on (reset included). The node is on only while the simulator runs:
 * a dead simulator is a machine without power.
 */
import { CHASSIS_DISPATCH } from '../bmc-config.js';

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function renderSimChassisScript(nodeDir: string, labDir: string): string {
  return `#!/bin/sh
# kseed lab chassis_control program of a simulated node (generated). ipmi_sim calls:
#   chassis.sh get power|boot ...   -> "power:0|1", "boot:<dev>"
#   chassis.sh set power 0|1 | reset 1 | shutdown 1 | boot <dev> | identify "<interval> <force>"
d=${shq(nodeDir)}
lab=${shq(labDir)}
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\${PATH:+:$PATH}
op="$1"; [ $# -gt 0 ] && shift
log() { echo "$(date +%s.%N) $*" >> "$d/chassis.log"; }
sim_alive() {
  p=$(cat "$lab/sim.pid" 2>/dev/null) && [ -n "$p" ] && [ -r "/proc/$p/status" ] || return 1
  grep -q '^State:[[:space:]]*Z' "/proc/$p/status" 2>/dev/null && return 1
  grep -aqF -- "$lab/" "/proc/$p/cmdline" 2>/dev/null
}
power_get() {
  read -r s _ < "$d/power" 2>/dev/null
  if [ "$s" = 1 ] && sim_alive; then echo 1; else echo 0; fi
}
# rename, not truncate+write: the simulator must never read a half-written file
put() { echo "$1" > "$d/power.$$" && mv -f "$d/power.$$" "$d/power"; }
power_on() {
  [ "$(power_get)" = 1 ] && return 0
  n=$(( $(cat "$d/boots" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$d/boots"
  put "1 $n"
}
power_off() { put 0; }
power_soft() { power_off; }
${CHASSIS_DISPATCH}`;
}
