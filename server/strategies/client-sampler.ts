/** The round sampler lives with the participation plug-in; strategies keep importing it from here. */
export {
  ClientSampler,
  defaultEligibility,
  samplingSchema,
  type EligibilityPredicate,
  type SamplingConfig,
} from '../participation/sampler.ts';
