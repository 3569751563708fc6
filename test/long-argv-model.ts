/** A one-node ONNX model (Identity on a float vector), built with our own graph writer, for tests that only need a session. */
import { makeGraph, makeModel, makeNode, serializeModel, valueInfo } from '../src/internal/onnx-graph.js';

export function buildIdentityModel(): Uint8Array {
  const graph = makeGraph('identity', [makeNode('Identity', ['x'], ['y'])], [valueInfo('x', 'FLOAT', [4])], [valueInfo('y', 'FLOAT', [4])]);
  return serializeModel(makeModel(graph));
}
