import { TRAIN_STRATEGIES } from '@ringtrain/config';
import { RingtrainError } from '@ringtrain/core';
import { ringStrategy, stripedStrategy, zigzagStrategy } from './ring';
import { rsaStrategy } from './rsa';
import type { Strategy, StrategyName } from './types';
import { ulyssesStrategy } from './ulysses';

const STRATEGIES: Record<StrategyName, Strategy> = {
  ring: ringStrategy,
  striped: stripedStrategy,
  zigzag: zigzagStrategy,
  ulysses: ulyssesStrategy,
  rsa: rsaStrategy,
};

/** The config's strategy list; STRATEGIES above has an entry for each. */
export const STRATEGY_NAMES: readonly StrategyName[] = TRAIN_STRATEGIES;

export function isStrategyName(name: string): name is StrategyName {
  return Object.prototype.hasOwnProperty.call(STRATEGIES, name);
}

export function getStrategy(name: string): Strategy {
  if (!isStrategyName(name)) {
    throw new RingtrainError('UNKNOWN_STRATEGY', `unknown strategy "${name}"`, {
      hint: `use one of ${STRATEGY_NAMES.join(', ')}`,
      details: { strategy: name },
    });
  }
  return STRATEGIES[name];
}
