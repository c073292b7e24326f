import { RingtrainError } from '@ringtrain/core';

/**
 * Stable codes for data errors. Each error names the file (and line or token where there is
 * one), what is wrong, and in the hint what would work.
 */
export type DataErrorCode =
  | 'DATA_NOT_FOUND' // a path that does not exist
  | 'DATA_EMPTY' // no usable document, or too few tokens for one sequence
  | 'DATA_NOT_TEXT' // a text file that holds binary data (NUL bytes)
  | 'DATA_BAD_JSONL' // a JSONL line that is not a JSON object with a string `text`
  | 'DATA_BAD_BIN' // a .bin of odd size or with ids outside the vocabulary
  | 'DATA_BAD_CURSOR' // a saved cursor that is malformed or belongs to other data
  | 'DATA_HELD_OUT_OVERLAP'; // a held-out file (valData) that the training data also reads

export function dataFileError(code: DataErrorCode, file: string, problem: string, fix: string, details: Record<string, unknown> = {}): RingtrainError {
  return new RingtrainError(code, `${file}: ${problem}`, { hint: fix, details: { file, ...details } });
}
