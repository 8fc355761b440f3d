/** The registered benchmark suites (one import + one line per suite; order = run order). */
import { benchSuites } from '../harness/registry.ts';
import { matmulSuite } from './matmul.ts';
import { mlpLoraStepSuite } from './step-mlp-lora.ts';
import { browserSuite } from './browser.ts';
import { adapterStepSuite } from './adapters.ts';
import { qualitySuite } from './quality.ts';
import { secAggSuite } from './secagg.ts';
import { aggregateSuite } from './aggregate.ts';
import { fleetSuite } from './fleet.ts';
import { transportSuite } from './transport.ts';
import { coordinatorScaleSuite, coordinatorSuite } from './coordinator-scale.ts';

benchSuites.register(matmulSuite);
benchSuites.register(mlpLoraStepSuite);
benchSuites.register(qualitySuite);
benchSuites.register(secAggSuite);
benchSuites.register(aggregateSuite);
benchSuites.register(fleetSuite);
benchSuites.register(transportSuite);
benchSuites.register(coordinatorSuite);
benchSuites.register(coordinatorScaleSuite);
benchSuites.register(adapterStepSuite);
benchSuites.register(browserSuite);
