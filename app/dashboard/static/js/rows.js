// Histories typed or pasted by people: rows of numbers, one step per line.
import { PageError } from "./notices.js";

/** "1, 2\n3, 4" -> [[1, 2], [3, 4]]; commas, semicolons, tabs or spaces between values. */
export function parseRows(text) {
  const rows = [];
  text.split(/\r?\n/).forEach((line, index) => {
    if (!line.trim()) return;
    const row = line
      .trim()
      .split(/[\s,;]+/)
      .map((cell) => {
        const value = Number(cell);
        if (cell === "" || !Number.isFinite(value)) {
          throw new PageError(
            "invalid_history",
            `line ${index + 1}: ${JSON.stringify(cell)} is not a number`,
          );
        }
        return value;
      });
    rows.push(row);
  });
  if (!rows.length) throw new PageError("invalid_history", "the history is empty");
  return rows;
}

/**
 * A CSV's numeric rows. With a header row, `columns` (the model's input columns) picks and
 * orders the columns when they are all there; otherwise every column is kept.
 */
export function parseCsv(text, columns) {
  const lines = text.split(/\r?\n/).filter((line) => line.trim());
  const cells = (line) => line.split(",").map((cell) => cell.trim().replace(/^"(.*)"$/, "$1"));
  const header =
    lines.length && cells(lines[0]).some((cell) => !Number.isFinite(Number(cell)))
      ? cells(lines.shift())
      : null;
  const names = (columns ?? []).map(String);
  const picked =
    header && names.length && names.every((name) => header.includes(name))
      ? names.map((name) => header.indexOf(name))
      : null;
  return lines.map((line) => {
    const row = cells(line);
    return picked ? picked.map((index) => row[index]) : row;
  });
}
