/** Every command group, registered in the order of the data flow. */
import type { Command } from 'commander';

export function registerCommands(program: Command): void {
  void program;
}
