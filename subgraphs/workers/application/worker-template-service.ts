import { hasScope, requireScope, Scope, type Identity } from '../../../core/auth/identity.ts';
import { ErrorCode, isLcmError } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import type { Logger } from '../../../core/logging.ts';
import type { WorkerTemplate } from '../domain/model.ts';
import { createWorkerTemplate, parseWorkerTemplates, updateWorkerTemplate, type WorkerTemplateSpec } from '../domain/worker-template.ts';
import type { WorkerTemplateRepository } from '../infrastructure/worker-template-repository.ts';

/** Attempts to upsert one template when another writer (a replica seeding too) races on its name. */
const UPSERT_ATTEMPTS = 3;

/**
 * Use cases of worker templates: list and look up (scope `read`), and seed from YAML (scope
 * `workers:write` or `internal`): the whole document is validated before anything is written, then
 * every template is upserted by name.
 */
export class WorkerTemplateService {
  constructor(
    private readonly repo: WorkerTemplateRepository,
    private readonly clock: () => Date,
    private readonly logger: Logger,
  ) {}

  async list(identity: Identity | undefined): Promise<WorkerTemplate[]> {
    requireScope(identity, Scope.READ);
    return this.repo.list();
  }

  async get(identity: Identity | undefined, name: string): Promise<WorkerTemplate | undefined> {
    requireScope(identity, Scope.READ);
    return this.repo.findByName(name);
  }

  /** Templates by name in one round trip, for entity references. */
  async findByNames(identity: Identity | undefined, names: readonly string[]): Promise<WorkerTemplate[]> {
    requireScope(identity, Scope.READ);
    return this.repo.findByNames(names);
  }

  /** Upsert the templates of a YAML document; returns them as stored, in document order. */
  async seed(identity: Identity | undefined, yaml: string): Promise<WorkerTemplate[]> {
    if (!hasScope(identity, Scope.INTERNAL)) requireScope(identity, Scope.WORKERS_WRITE);
    return this.upsertAll(parseWorkerTemplates(yaml));
  }

  /**
   * Seed the default templates when there are none (at start). Returns how many were written; a bad
   * document throws (the process should not start with templates it cannot read).
   */
  async seedIfEmpty(yaml: string): Promise<number> {
    const specs = parseWorkerTemplates(yaml);
    if ((await this.repo.count()) > 0) return 0;
    const stored = await this.upsertAll(specs);
    this.logger.info({ templates: stored.map((t) => t.name) }, 'seeded default worker templates');
    return stored.length;
  }

  private async upsertAll(specs: readonly WorkerTemplateSpec[]): Promise<WorkerTemplate[]> {
    const existing = new Map((await this.repo.findByNames(specs.map((s) => s.name))).map((t) => [t.name, t]));
    const out: WorkerTemplate[] = [];
    for (const spec of specs) out.push(await this.upsert(spec, existing.get(spec.name)));
    return out;
  }

  private async upsert(spec: WorkerTemplateSpec, known: WorkerTemplate | undefined): Promise<WorkerTemplate> {
    let current = known;
    for (let attempt = 1; ; attempt++) {
      const now = this.clock();
      try {
        if (!current) {
          const created = createWorkerTemplate(spec, newId('wtpl', now.getTime()), now);
          await this.repo.insert(created);
          return created;
        }
        const { template, changed } = updateWorkerTemplate(current, spec, now);
        if (changed) await this.repo.save(template);
        return template;
      } catch (e) {
        if (!(isLcmError(e) && e.code === ErrorCode.CONFLICT) || attempt >= UPSERT_ATTEMPTS) throw e;
        current = await this.repo.findByName(spec.name);
      }
    }
  }
}
