import express, { Router, type Request } from 'express';
import { badRequest } from '../../core/errors.js';
import type { RuleFile, RuleMessage } from '../../core/tenant-rules.js';
import type { TenantRuleBook } from '../../scanning/analysis/custom-rules/rule-book.js';
import { principalOf } from '../auth.js';
import { refuseBodyOver, requireParsedBody } from '../body-parsers.js';
import { sendJson } from '../http.js';

export interface RulesRouterDeps {
  rules: TenantRuleBook;
}

/**
 * The tenant's own YARA rules (`/v1`, behind the tenant's Basic auth, API keys only): rule files
 * by name, applied to every scan of the tenant within about a second of a change (see
 * scanning/analysis/custom-rules/).
 *
 * - `PUT /rules/{name}` with the YARA source as `text/plain` → 201 (new) or 200 (replaced) with
 *   the file's rules and the compiler's warnings. 400 with `errors` (code, line, column,
 *   message) when it does not compile; 409 when it declares a rule another file declares, or
 *   breaks another file; 413 past the source size limit; 415 for another content type; 422 past
 *   the rules or files per tenant, or when the set compiles or scans too slowly.
 * - `GET /rules` → `{"rules": [...]}` without sources; `GET /rules/{name}` with its source.
 * - `DELETE /rules/{name}` → 204; 404 for an unknown name; 409 when another file uses its rules.
 */
export function rulesRouter(deps: RulesRouterDeps): Router {
  const router = Router();
  const limit = deps.rules.limits.maxSourceBytes;
  const source = [
    requireParsedBody('text/plain'),
    refuseBodyOver(limit),
    express.text({ type: 'text/plain', limit }),
  ];

  router.get('/rules', async (_req, res) => {
    const files = await deps.rules.list(principalOf(res).tenantId);
    sendJson(res, 200, { rules: files.map((file) => ruleFileView(file)) });
  });

  router.put('/rules/:name', ...source, async (req, res) => {
    if (typeof req.body !== 'string')
      throw badRequest('Send the YARA source as a text/plain body.');
    const outcome = await deps.rules.put(principalOf(res).tenantId, ruleName(req), req.body);
    if (outcome.created) res.setHeader('Location', `${req.baseUrl}/rules/${outcome.file.name}`);
    sendJson(res, outcome.created ? 201 : 200, {
      ...ruleFileView(outcome.file),
      version: outcome.version,
    });
  });

  router.get('/rules/:name', async (req, res) => {
    const file = await deps.rules.get(principalOf(res).tenantId, ruleName(req));
    sendJson(res, 200, ruleFileView(file, true));
  });

  router.delete('/rules/:name', async (req, res) => {
    await deps.rules.delete(principalOf(res).tenantId, ruleName(req));
    res.status(204).end();
  });

  return router;
}

/** A rule file as the API shows it; `source` only when one file is asked for. */
interface RuleFileView {
  name: string;
  rules: string[];
  rule_count: number;
  warnings: RuleMessage[];
  sha256: string;
  size: number;
  created_at: string;
  modified_at: string;
  source?: string;
}

function ruleFileView(file: RuleFile, withSource = false): RuleFileView {
  return {
    name: file.name,
    rules: file.rules,
    rule_count: file.rules.length,
    warnings: file.warnings,
    sha256: file.sha256,
    size: file.size,
    created_at: file.created,
    modified_at: file.modified,
    ...(withSource ? { source: file.source } : {}),
  };
}

const ruleName = (req: Request): string => String(req.params.name);
