import { STRATEGY_LAYOUTS, TRAIN_STRATEGIES, type StrategySpec } from '@ringtrain/config';
import { RingtrainError } from '@ringtrain/core';
import { hybridStrategy } from './hybrid';
import { ringStrategy, stripedStrategy, zigzagStrategy } from './ring';
import { rsaStrategy } from './rsa';
import type { Strategy, StrategyName } from './types';
import { ulyssesStrategy } from './ulysses';

/** hybrid has no one instance: its Ulysses degree and ring layout make it (getStrategy's `spec`). */
const STRATEGIES: Record<Exclude<StrategyName, 'hybrid'>, Strategy> = {
  ring: ringStrategy,
  striped: stripedStrategy,
  zigzag: zigzagStrategy,
  ulysses: ulyssesStrategy,
  rsa: rsaStrategy,
};

/** The config's strategy list; STRATEGIES above has an entry for each. */
export const STRATEGY_NAMES: readonly StrategyName[] = TRAIN_STRATEGIES;

export function isStrategyName(name: string): name is StrategyName {
  return (STRATEGY_NAMES as readonly string[]).includes(name);
}

/**
 * The strategy of this name; hybrid is made of `spec`'s Ulysses degree (required) and ring
 * layout (default contiguous), which the others ignore.
 */
export function getStrategy(name: string, spec: Omit<StrategySpec, 'strategy'> = {}): Strategy {
  if (!isStrategyName(name)) {
    throw new RingtrainError('UNKNOWN_STRATEGY', `unknown strategy "${name}"`, {
      hint: `use one of ${STRATEGY_NAMES.join(', ')}`,
      details: { strategy: name },
    });
  }
  if (name === 'hybrid') {
    if (spec.ulyssesDegree === undefined) {
      throw new RingtrainError('HYBRID_DEGREE', 'strategy hybrid needs a Ulysses degree', { hint: 'pass --ulysses-degree U (a divisor of the worker count)', details: { strategy: name } });
    }
    return hybridStrategy(spec.ulyssesDegree, spec.ringLayout ?? STRATEGY_LAYOUTS.hybrid);
  }
  return STRATEGIES[name];
}
