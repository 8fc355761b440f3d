/** A small config for every built-in preset that fits the fixture model (d = 6, hidden = 8). */
export const FIXTURE_CONFIGS: Record<string, Record<string, unknown>> = {
  full: { roles: ['q', 'up'] },
  lora: { r: 2, alpha: 4 },
  'lora-plus': { r: 2, alpha: 4, lrRatio: 4 },
  'ffa-lora': { r: 2, alpha: 4 },
  'fedsa-lora': { r: 2, alpha: 4 },
  flora: { r: 2, alpha: 4 },
  hetlora: { r: 2, alpha: 4 },
  paca: { r: 2 },
  cla: { r: 2, alpha: 4 },
  'random-cla': { r: 2, alpha: 4 },
  c3la: { r: 4, alpha: 8 },
  'random-c3la': { r: 2, alpha: 4 },
  cola: { r: 2, alpha: 4 },
  'rac-lora': { r: 2, alpha: 4 },
  pica: { r: 2 },
  losa: { r: 3, alpha: 6 },
};
