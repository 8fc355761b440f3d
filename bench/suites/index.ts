/** The registered benchmark suites (one import + one line per suite; order = run order). */
import { benchSuites } from '../harness/registry.ts';
import { matmulSuite } from './matmul.ts';
import { mlpLoraStepSuite } from './step-mlp-lora.ts';

benchSuites.register(matmulSuite);
benchSuites.register(mlpLoraStepSuite);
