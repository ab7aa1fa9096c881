/**
 * `kseed completion bash|zsh|fish`: a completion script for the shell,
 * generated from the loaded command tree (every command, subcommand and
 * long option), so it never lags behind the commands. zsh uses the bash
 * script through its own bashcompinit.
 */
import type { Command } from 'commander';
import { InputError } from '../errors.js';

interface Node {
  /** command path below kseed, e.g. "lab up" ("" for kseed itself) */
  path: string;
  subcommands: { name: string; summary: string }[];
  options: { flag: string; summary: string }[];
}

function walk(cmd: Command, prefix: string, out: Node[]): void {
  const subs = cmd.commands.filter((c) => c.name() !== 'help');
  out.push({
    path: prefix,
    subcommands: subs.map((c) => ({ name: c.name(), summary: c.summary() || c.description().split('\n')[0]! })),
    options: cmd.options.filter((o) => o.long).map((o) => ({ flag: o.long!, summary: o.description })),
  });
  for (const c of subs) walk(c, prefix ? `${prefix} ${c.name()}` : c.name(), out);
}

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function bashScript(nodes: Node[]): string {
  const paths = nodes.filter((n) => n.path).map((n) => `"${n.path}"`).join('|');
  const cases = nodes.map((n) => `    ${n.path ? `"${n.path}"` : '""'}) words=${sq([...n.subcommands.map((s) => s.name), ...n.options.map((o) => o.flag), ...(n.path ? [] : ['--help'])].join(' '))} ;;`);
  return [
    '# kseed completion for bash (and zsh through bashcompinit): eval "$(kseed completion bash)"',
    '_kseed_complete() {',
    '  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} path="" w i words=""',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    w=${COMP_WORDS[i]}',
    '    case "$w" in',
    '      -c|--config) ((i++)) ;;',
    '      -*) ;;',
    `      *) case "\${path:+$path }$w" in ${paths}) path="\${path:+$path }$w" ;; esac ;;`,
    '    esac',
    '  done',
    '  # an option value (a file, a name): the shell\'s own completion',
    '  if [[ $prev == -c || $prev == --config ]]; then COMPREPLY=(); return; fi',
    '  case "$path" in',
    ...cases,
    '  esac',
    '  COMPREPLY=($(compgen -W "$words" -- "$cur"))',
    '}',
    'complete -o default -F _kseed_complete kseed',
    '',
  ].join('\n');
}

export function zshScript(nodes: Node[]): string {
  return ['#compdef kseed', '# kseed completion for zsh: eval "$(kseed completion zsh)" after compinit', 'autoload -U +X bashcompinit && bashcompinit', bashScript(nodes)].join('\n');
}

export function fishScript(nodes: Node[]): string {
  const fq = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const lines = [
    '# kseed completion for fish: kseed completion fish | source',
    `set -g __kseed_paths ${nodes.filter((n) => n.path).map((n) => fq(n.path)).join(' ')}`,
    'function __kseed_path',
    '    set -l words (commandline -opc)',
    '    set -e words[1]',
    '    set -l path',
    '    set -l skip 0',
    '    for w in $words',
    '        if test $skip = 1',
    '            set skip 0',
    '            continue',
    '        end',
    '        switch $w',
    '            case -c --config',
    '                set skip 1',
    "            case '-*'",
    "            case '*'",
    '                if contains -- (string join " " $path $w) $__kseed_paths',
    '                    set path $path $w',
    '                end',
    '        end',
    '    end',
    '    string join " " $path',
    'end',
    'function __kseed_at',
    '    set -l p (__kseed_path)',
    '    test "$p" = "$argv[1]"',
    'end',
    'complete -c kseed -f',
  ];
  for (const n of nodes) {
    const at = `-n ${fq(`__kseed_at ${fq(n.path)}`)}`;
    for (const s of n.subcommands) lines.push(`complete -c kseed ${at} -a ${fq(s.name)} -d ${fq(s.summary)}`);
    for (const o of n.options) lines.push(`complete -c kseed ${at} -l ${o.flag.slice(2)} -d ${fq(o.summary)}`);
  }
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: bash, zsh or fish')
    .argument('<shell>', 'bash, zsh or fish')
    .action(async (shell: string) => {
      const gen = { bash: bashScript, zsh: zshScript, fish: fishScript }[shell];
      if (!gen) throw new InputError(`unknown shell "${shell}": kseed completion bash, zsh or fish`);
      // every command loaded (this one alone imports them all)
      const { buildProgram } = await import('./main.js');
      const all = await buildProgram(['node', 'kseed'], true);
      const nodes: Node[] = [];
      walk(all, '', nodes);
      process.stdout.write(gen(nodes));
    });
}
