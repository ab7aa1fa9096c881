/**
 * `kseed console NODE`: the node's serial console over IPMI Serial-over-LAN.
 * Typed keys go to the node (raw when stdin is a terminal, Ctrl-C included,
 * as on a real serial line); `~.` after Enter detaches and leaves the node
 * as it is. Every way out (detach, SIGTERM, SIGHUP, SIGINT when stdin is not
 * a terminal, a lost BMC) deactivates the payload before kseed exits.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { Command } from 'commander';
import { SolBusyError, SolConsole, type SolEnd } from '../bmc/ipmi/sol.js';
import { KseedError } from '../errors.js';
import { loadSite } from '../site/load.js';
import { EscapeReader, ESCAPE_HELP } from './console-escape.js';
import { contextOf } from './context.js';
import { selectNodes, targetOf } from './nodes.js';

interface ConsoleOptions {
  log?: string;
  force?: boolean;
}

const SIGNALS = ['SIGTERM', 'SIGHUP', 'SIGINT'] as const;

export function register(program: Command): void {
  program
    .command('console')
    .description("attach to a node's serial console over IPMI Serial-over-LAN; ~. after Enter detaches")
    .argument('<node>', 'node name from the site file')
    .option('--log <file>', "append the node's console output to this file (mode 0600)")
    .option('--force', 'take SOL over when another session has it active (that session is cut off)')
    .addHelpText(
      'after',
      `\n${ESCAPE_HELP.replace(/\r/g, '')}\nWith stdin not a terminal, input is sent as it comes; at its end the console only watches.\nUnder --json stdout carries one JSON object per line: attached, output (text), detached.\nA lab node without SOL: \`kseed lab console NODE -f\` shows its serial log.\n\nExamples:\n  kseed console node01\n  kseed console node01 --log node01.log --force`,
    )
    .action(async (name: string, opts: ConsoleOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      const site = await loadSite(ctx.configPath);
      const [node] = selectNodes(site, [name], false);
      const target = await targetOf(node!, site);
      if (target.protocol !== 'ipmi') {
        throw new KseedError(`${name}: its BMC speaks ${target.protocol}; the console needs IPMI Serial-over-LAN`, {
          code: 'sol-unsupported',
          detail: 'a lab node: `kseed lab console NODE -f` shows its serial log',
        });
      }
      const json = ctx.out.json;
      const line = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
      const note = (msg: string) => {
        if (!json) process.stderr.write(`\r\n[kseed] ${msg}\r\n`);
      };
      let log: number | undefined;
      if (opts.log) {
        try {
          log = openSync(opts.log, 'a', 0o600);
        } catch (err) {
          throw new KseedError(`--log ${opts.log}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { exitCode: 2, code: 'bad-input' });
        }
      }

      // a signal during activation must still deactivate: remember it, act once attached
      let sol: SolConsole | undefined;
      let stopSignal: string | undefined;
      const onSignal = (sig: string) => {
        stopSignal ??= sig;
        if (sol) void sol.close();
      };
      const handlers = SIGNALS.map((s) => [s, () => onSignal(s)] as const);
      for (const [s, h] of handlers) process.on(s, h);
      const tty = Boolean(process.stdin.isTTY);
      const cleanup = () => {
        for (const [s, h] of handlers) process.off(s, h);
        if (tty) process.stdin.setRawMode(false);
        process.stdin.pause();
        if (log !== undefined) closeSync(log);
      };

      try {
        sol = await SolConsole.open({
          address: target.address,
          port: target.port ?? 623,
          username: target.username,
          password: target.password,
          ...(target.kg ? { kg: target.kg } : {}),
          ...(target.cipherSuite ? { cipherSuite: target.cipherSuite } : {}),
          ...(target.privilege ? { privilege: target.privilege } : {}),
          timeoutMs: target.timeoutMs ?? 15_000,
          force: Boolean(opts.force),
        });
      } catch (err) {
        cleanup();
        if (err instanceof SolBusyError) {
          throw new KseedError(`${name}: Serial-over-LAN is already active in another session on its BMC (${err.bmc}); --force takes it over`, {
            code: 'sol-busy',
          });
        }
        throw err;
      }
      const c = sol;
      const ended = new Promise<SolEnd>((resolve) => c.onEnd(resolve));
      const decoder = new StringDecoder('utf8');
      c.onData((d) => {
        if (log !== undefined) writeSync(log, d);
        if (json) {
          const text = decoder.write(d);
          if (text) line({ type: 'output', text });
        } else process.stdout.write(d);
      });
      if (json) line({ type: 'attached', node: name, bmc: c.bmc, cipher_suite: c.cipherSuite, took_over: c.tookOver });
      else note(`${name}: attached to Serial-over-LAN on ${c.bmc}${c.tookOver ? ' (taken over from another session)' : ''}; ~. after Enter detaches, ~? lists the keys`);
      if (stopSignal) void c.close();

      const keys = new EscapeReader();
      if (tty) process.stdin.setRawMode(true);
      process.stdin.on('data', (chunk: Buffer) => {
        for (const a of keys.feed(chunk)) {
          if ('data' in a) c.write(a.data);
          else if ('break' in a) c.sendBreak();
          else if ('help' in a) process.stderr.write(ESCAPE_HELP);
          else void c.drain(1000).then(() => c.close());
        }
      });
      process.stdin.resume();

      const end = await ended;
      cleanup();
      const stats = c.stats;
      const how = end.by === 'detach' ? (stopSignal ? `detached on ${stopSignal}` : 'detached') : `${end.by}: ${end.reason}`;
      if (json) {
        line({ type: 'detached', node: name, by: end.by, ...(stopSignal ? { signal: stopSignal } : {}), ...('reason' in end ? { reason: end.reason } : {}), chars_in: stats?.charsIn ?? 0, chars_out: stats?.charsOut ?? 0 });
      } else note(end.by === 'detach' ? `${name}: ${how}; Serial-over-LAN deactivated` : `${name}: ${how}`);
      if (end.by !== 'detach') process.exitCode = 1;
    });
}
