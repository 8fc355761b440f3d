/** Every built-in adapter method, in the order `fedpeft methods` lists them. */
import type { AdapterMethod } from '../types.ts';
import { fullMethod } from './full.ts';
import { loraMethod } from './lora.ts';
import { loraPlusMethod } from './lora-plus.ts';
import { ffaLoraMethod } from './ffa-lora.ts';
import { fedsaLoraMethod } from './fedsa-lora.ts';
import { floraMethod } from './flora.ts';
import { hetloraMethod } from './hetlora.ts';
import { pacaMethod } from './paca.ts';
import { claMethod } from './cla.ts';
import { randomClaMethod } from './random-cla.ts';
import { c3laMethod } from './c3la.ts';
import { randomC3laMethod } from './random-c3la.ts';
import { colaMethod } from './cola.ts';
import { racLoraMethod } from './rac-lora.ts';
import { picaMethod } from './pica.ts';
import { losaMethod } from './losa.ts';

export const BUILTIN_METHODS: readonly AdapterMethod[] = [
  fullMethod,
  loraMethod,
  loraPlusMethod,
  ffaLoraMethod,
  fedsaLoraMethod,
  floraMethod,
  hetloraMethod,
  pacaMethod,
  claMethod,
  randomClaMethod,
  c3laMethod,
  randomC3laMethod,
  colaMethod,
  racLoraMethod,
  picaMethod,
  losaMethod,
];
