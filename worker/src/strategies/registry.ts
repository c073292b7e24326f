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

export const STRATEGY_NAMES = Object.keys(STRATEGIES) as StrategyName[];

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
