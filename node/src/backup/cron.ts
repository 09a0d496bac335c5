// A 5-field cron schedule (minute hour day-of-month month day-of-week), always in UTC, for the
// archiver's scheduled full snapshots (-backup-full-schedule, docs/adr/0070). Vixie cron's rules:
// `*`, numbers, `a-b` ranges, `*/n` and `a-b/n` steps, comma lists, month and weekday names
// (JAN..DEC, SUN..SAT), weekday 7 = Sunday, and the macros @hourly @daily @midnight @weekly
// @monthly @yearly @annually. When both day fields are restricted (neither starts with `*`), a
// day matches if EITHER matches; otherwise both must. `a/n` (a step without a range) is refused:
// implementations disagree on it.
//
// No imports: operator/src/backup/cron.generated.ts is a copy (the operator image holds only
// operator/), written by operator/src/tools/sync-cron.ts and checked by a test.

export class CronError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CronError';
  }
}

export interface CronSchedule {
  /** The text as given. */
  source: string;
  /** Minutes of the day (hour * 60 + minute) that fire, ascending. */
  dayMinutes: number[];
  dom: boolean[];
  month: boolean[];
  dow: boolean[];
  /** The day-of-month / day-of-week field starts with `*` (Vixie: then both day fields must match). */
  domStar: boolean;
  dowStar: boolean;
}

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldDef {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** Index of the first name (JAN = 1, SUN = 0). */
  namesFrom?: number;
}
const FIELDS: FieldDef[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, namesFrom: 1 },
  { name: 'day-of-week', min: 0, max: 7, names: DAYS, namesFrom: 0 },
];
/** Longest day of each month (February 29: a schedule for it fires in leap years). */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** A schedule that fires at all fires within 8 years (February 29 skips 2100); search a little longer. */
const SEARCH_DAYS = 9 * 366;
const DAY_MS = 86_400_000;

function value(text: string, f: FieldDef, whole: string): number {
  const upper = text.toUpperCase();
  const named = f.names?.indexOf(upper) ?? -1;
  if (named >= 0) return named + (f.namesFrom ?? 0);
  if (!/^\d{1,2}$/.test(text)) throw new CronError(`${f.name} field "${whole}": "${text}" is not a number`);
  const n = Number(text);
  if (n < f.min || n > f.max)
    throw new CronError(`${f.name} field "${whole}": ${n} is outside ${f.min}-${f.max}`);
  return n;
}

function field(text: string, f: FieldDef): boolean[] {
  const set = new Array<boolean>(f.max + 1).fill(false);
  for (const item of text.split(',')) {
    if (item === '') throw new CronError(`${f.name} field "${text}": empty list item`);
    const [range, stepText, extra] = item.split('/');
    if (extra !== undefined) throw new CronError(`${f.name} field "${text}": two steps in "${item}"`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d{1,3}$/.test(stepText) || Number(stepText) === 0)
        throw new CronError(`${f.name} field "${text}": step "${stepText}" is not a positive number`);
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (range === '*') [lo, hi] = [f.min, f.max];
    else if (range!.includes('-')) {
      const [a, b, more] = range!.split('-');
      if (more !== undefined) throw new CronError(`${f.name} field "${text}": "${range}" is not a range`);
      lo = value(a!, f, text);
      hi = value(b!, f, text);
      if (lo > hi) throw new CronError(`${f.name} field "${text}": range ${range} runs backwards`);
    } else {
      lo = hi = value(range!, f, text);
      if (stepText !== undefined)
        throw new CronError(
          `${f.name} field "${text}": write "${range}-${f.max}/${stepText}" or "*/${stepText}"`,
        );
    }
    for (let v = lo; v <= hi; v += step) set[v] = true;
  }
  return set;
}

/** Parses a schedule; throws CronError naming the field and the problem. */
export function parseCron(text: string): CronSchedule {
  const source = text;
  const expanded = MACROS[text.trim().toLowerCase()] ?? text;
  if (expanded.trim().startsWith('@')) throw new CronError(`unknown macro "${text.trim()}"`);
  const parts = expanded.trim().split(/\s+/);
  if (parts.length !== 5 || parts[0] === '')
    throw new CronError(
      `"${text}" has ${parts[0] === '' ? 0 : parts.length} fields; a schedule has 5: minute hour day-of-month month day-of-week`,
    );
  const [minute, hour, dom, month, dow] = parts.map((p, i) => field(p, FIELDS[i]!));
  // Sunday is 0 and 7.
  if (dow![7]) dow![0] = true;
  const dayMinutes: number[] = [];
  for (let h = 0; h < 24; h++)
    for (let m = 0; m < 60; m++) if (hour![h] && minute![m]) dayMinutes.push(h * 60 + m);
  const s: CronSchedule = {
    source,
    dayMinutes,
    dom: dom!,
    month: month!,
    dow: dow!,
    domStar: parts[2]!.startsWith('*'),
    dowStar: parts[4]!.startsWith('*'),
  };
  // Only days named by day-of-month (weekday `*`) can be days no month has, e.g. "0 0 30 2 *".
  if (
    s.dowStar &&
    !s.domStar &&
    !MONTH_DAYS.some((days, i) => s.month[i + 1] && s.dom.some((on, d) => on && d <= days))
  )
    throw new CronError(`"${text}" never fires: no month in it has those days`);
  return s;
}

function dayFires(s: CronSchedule, day: number): boolean {
  const d = new Date(day * DAY_MS);
  if (!s.month[d.getUTCMonth() + 1]) return false;
  const dom = s.dom[d.getUTCDate()] === true;
  const dow = s.dow[d.getUTCDay()] === true;
  return s.domStar || s.dowStar ? dom && dow : dom || dow;
}

/** The first scheduled minute strictly after `afterMs` (ms since the epoch, UTC). */
export function nextCronTime(s: CronSchedule, afterMs: number): number {
  const first = Math.floor(afterMs / 60_000) + 1;
  let day = Math.floor(first / 1440);
  let from = first - day * 1440;
  for (let i = 0; i <= SEARCH_DAYS; i++, day++, from = 0) {
    if (!dayFires(s, day)) continue;
    const m = s.dayMinutes.find((x) => x >= from);
    if (m !== undefined) return (day * 1440 + m) * 60_000;
  }
  throw new CronError(`"${s.source}" does not fire within ${SEARCH_DAYS} days`);
}

/** The longest time between two consecutive firings over the next 9 years (what "overdue" compares with). */
export function longestCronGapMs(s: CronSchedule, fromMs: number): number {
  const inDay = s.dayMinutes.reduce((g, m, i) => (i === 0 ? g : Math.max(g, m - s.dayMinutes[i - 1]!)), 0);
  const firstDay = Math.floor(fromMs / DAY_MS);
  let longest = inDay * 60_000;
  let prevDay: number | null = null;
  for (let day = firstDay; day <= firstDay + SEARCH_DAYS; day++) {
    if (!dayFires(s, day)) continue;
    if (prevDay !== null) {
      const gap = (day - prevDay) * DAY_MS + (s.dayMinutes[0]! - s.dayMinutes.at(-1)!) * 60_000;
      longest = Math.max(longest, gap);
    }
    prevDay = day;
  }
  return longest;
}
