/**
 * The Python interpreter the independent numpy references run on: `FEDPEFT_PYTHON` when set (`.ci/run` points
 * it at Debian's /usr/bin/python3 when the `python3` on PATH lacks numpy), else `python3`.
 */
export const REFERENCE_PYTHON = process.env.FEDPEFT_PYTHON ?? 'python3';
