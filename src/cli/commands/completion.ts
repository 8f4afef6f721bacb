/**
 * `kuke completion bash|zsh|fish`: prints a shell completion script generated from the command tree (commands,
 * their options, and resource kinds for get/create/delete/history).
 */
import type { Command } from 'commander';
import { ErrorKind, KukeError } from '../../errors.js';
import type { CommandContext } from '../context.js';

const KINDS = ['realms', 'spaces', 'stacks', 'cells', 'containers'];

function tree(program: Command): { name: string; options: string[] }[] {
  return program.commands.map((c) => ({ name: c.name(), options: c.options.map((o) => o.long ?? o.short ?? '').filter(Boolean) }));
}

function bash(program: Command): string {
  const commands = tree(program);
  const cases = commands.map((c) => `    ${c.name}) opts="${c.options.join(' ')}" ;;`).join('\n');
  return `# kuke bash completion: source <(kuke completion bash)
_kuke() {
  local cur prev cmd opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  cmd="\${COMP_WORDS[1]}"
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W "${commands.map((c) => c.name).join(' ')}" -- "$cur"))
    return
  fi
  case "$cmd" in
${cases}
  esac
  if [[ $COMP_CWORD -eq 2 && "$cmd" =~ ^(get|create|delete|history)$ ]]; then
    COMPREPLY=($(compgen -W "${KINDS.join(' ')}" -- "$cur"))
  elif [[ $COMP_CWORD -eq 2 && "$cmd" =~ ^(start|stop|kill|restart)$ ]]; then
    COMPREPLY=($(compgen -W "cell" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$opts --realm --space --stack --no-daemon --run-path" -- "$cur"))
  fi
}
complete -F _kuke kuke
`;
}

function zsh(program: Command): string {
  const commands = tree(program);
  return `#compdef kuke
# kuke zsh completion: source <(kuke completion zsh)
_kuke() {
  local -a commands kinds
  commands=(${commands.map((c) => `'${c.name}:${(program.commands.find((x) => x.name() === c.name)?.description() ?? '').replace(/'/g, '')}'`).join(' ')})
  kinds=(${KINDS.join(' ')})
  if (( CURRENT == 2 )); then
    _describe 'command' commands
  elif (( CURRENT == 3 )) && [[ \${words[2]} == (get|create|delete|history) ]]; then
    _describe 'kind' kinds
  else
    _arguments '*:: :->args' '--realm[realm]:realm:' '--space[space]:space:' '--stack[stack]:stack:' '--no-daemon[work in-process]' '--run-path[run path]:dir:_files -/'
  fi
}
compdef _kuke kuke
`;
}

function fish(program: Command): string {
  const commands = tree(program);
  const lines = commands.map((c) => `complete -c kuke -n '__fish_use_subcommand' -a ${c.name} -d '${(program.commands.find((x) => x.name() === c.name)?.description() ?? '').replace(/'/g, '')}'`);
  for (const c of commands) for (const o of c.options) if (o.startsWith('--')) lines.push(`complete -c kuke -n '__fish_seen_subcommand_from ${c.name}' -l ${o.slice(2)}`);
  lines.push(`complete -c kuke -n '__fish_seen_subcommand_from get create delete history' -a '${KINDS.join(' ')}'`);
  return `# kuke fish completion: kuke completion fish | source\n${lines.join('\n')}\n`;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('completion')
    .alias('autocomplete')
    .description('print a shell completion script (bash, zsh or fish)')
    .argument('<shell>', 'bash, zsh or fish')
    .action((shell: string) => {
      const generators: Record<string, (p: Command) => string> = { bash, zsh, fish };
      const generate = generators[shell];
      if (!generate) throw new KukeError(ErrorKind.InvalidArgument, `unknown shell "${shell}"`, { hint: 'use bash, zsh or fish' });
      ctx.streams.out(generate(program));
    });
}
