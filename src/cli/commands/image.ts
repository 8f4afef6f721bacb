/**
 * `kuke image load <tar> [--realm r]`: imports an OCI image layout tar into a realm's containerd namespace (no
 * registry is reachable; this is how workload images arrive). Done in-process, as root, through containerd's API.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { ErrorKind, KukeError } from '../../errors.js';
import { DEFAULT_REALM, validateName } from '../../model/names.js';
import type { RealmView } from '../../model/resources.js';
import type { CommandContext } from '../context.js';

export function register(program: Command, ctx: CommandContext): void {
  const image = program.command('image').description('images in realms (no registry: import OCI image tars)');
  image
    .command('load')
    .description("import an OCI image layout tar into a realm's namespace")
    .argument('<tar>', 'OCI image layout tar')
    .option('--realm <realm>', 'realm', DEFAULT_REALM)
    .action(async (tar: string, options: { realm: string }) => {
      const [{ requireContainerd, requireRoot }, { createRuntime }] = await Promise.all([import('../../api/bootstrap.js'), import('../../runtime/index.js')]);
      requireRoot('kuke image load');
      validateName('realm', options.realm);
      if (!existsSync(tar)) throw new KukeError(ErrorKind.InvalidArgument, `no such file: ${tar}`, { hint: 'pass the path of an OCI image layout tar' });
      const settings = ctx.settings();
      requireContainerd(settings);
      const [realm] = (await (await ctx.client()).find({ kind: 'realm', name: options.realm })) as RealmView[];
      const runtime = await createRuntime(settings, ctx.logger());
      try {
        const images = await runtime.containers.importImage(realm!.namespace, tar);
        for (const i of images) ctx.streams.out(`Loaded image ${i.name} into realm "${realm!.name}" (namespace ${realm!.namespace})\n`);
      } finally {
        runtime.containers.close();
      }
    });
}
