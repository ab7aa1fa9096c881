/** The external tools the lab drives, found once (src/util/tools.ts finds them and names their packages). */
import { requireTool } from '../util/tools.js';

export interface LabTools {
  ip: string;
  qemu: string;
  qemuImg: string;
  ipmiSim: string;
  ipmitool: string;
  setsid: string;
}

export function labTools(): LabTools {
  return {
    ip: requireTool('ip'),
    qemu: requireTool('qemu-system-x86_64'),
    qemuImg: requireTool('qemu-img'),
    ipmiSim: requireTool('ipmi_sim'),
    ipmitool: requireTool('ipmitool'),
    setsid: requireTool('setsid'),
  };
}
