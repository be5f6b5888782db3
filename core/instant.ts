import { z } from 'zod';

const isoDateTime = z.iso.datetime({ offset: true });
const isoDate = z.iso.date();

/**
 * A point in time a client sends (the ends of a retro job's or a rescan's window): an ISO 8601
 * date-time with a time zone (`2024-05-01T12:00:00Z`, `…+02:00`) or a plain date (`2024-05-01`,
 * read as UTC midnight). Parsed to an ISO string with milliseconds, in UTC.
 */
export const instant = (field: string) =>
  z
    .string({ error: `${field} must be a date-time such as "2024-05-01T00:00:00Z"` })
    .transform((value, ctx) => {
      const trimmed = value.trim();
      if (!isoDateTime.safeParse(trimmed).success && !isoDate.safeParse(trimmed).success) {
        ctx.addIssue({
          code: 'custom',
          message: `${field} must be an ISO 8601 date-time with a time zone ("2024-05-01T00:00:00Z", "2024-05-01T02:00:00+02:00") or a date ("2024-05-01", UTC midnight); got "${trimmed.slice(0, 40)}"`,
        });
        return z.NEVER;
      }
      return new Date(Date.parse(trimmed)).toISOString();
    });
