/**
 * An execution is the item at `index` of a batch; its id names both, so any service can find the
 * batch stream of an execution without a lookup table.
 */
export const executionIdOf = (batchId: string, index: number): string => `${batchId}.${index}`;

export const parseExecutionId = (executionId: string): { batchId: string; index: number } | null => {
  const dot = executionId.lastIndexOf('.');
  if (dot <= 0) return null;
  const index = executionId.slice(dot + 1);
  if (!/^(0|[1-9]\d{0,8})$/.test(index)) return null;
  return { batchId: executionId.slice(0, dot), index: Number(index) };
};
