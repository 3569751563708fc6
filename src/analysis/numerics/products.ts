/**
 * Dense products by onnxruntime: an ONNX MatMul graph built in memory, one session per element type and transpose
 * variant, about 60 GFLOP/s a core against about 1 for plain JS loops (and about 60x ml-matrix). onnxruntime is
 * reached only through src/internal/ort.ts. Products of tall data matrices are chunked over rows (`CHUNK_ROWS`), so
 * memory stays at a few chunks plus the result.
 */
import { fail } from '../../errors.js';
import { createSession, Tensor, type Session } from '../../internal/ort.js';
import { makeGraph, makeModel, makeNode, serializeModel } from '../../internal/onnx-graph.js';
import { CHUNK_ROWS, rowSlice, type Dense, type Dense64 } from './matrix.js';

type Dtype = 'float32' | 'float64';
const ELEM = { float32: 1, float64: 11 } as const;
const sessions = new Map<string, Promise<Session>>();

function tensorInfo(name: string, dtype: Dtype, dims: string[]) {
  return { name, type: { tensorType: { elemType: ELEM[dtype], shape: { dim: dims.map((d) => ({ dimParam: d })) } } } };
}

/** A MatMul graph with optional transposes of either input, for one element type; one session per variant. */
function productSession(dtype: Dtype, transA: boolean, transB: boolean): Promise<Session> {
  const id = `${dtype}/${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`;
  let s = sessions.get(id);
  if (!s) {
    const nodes: ReturnType<typeof makeNode>[] = [];
    let a = 'A';
    let b = 'B';
    if (transA) {
      nodes.push(makeNode('Transpose', ['A'], ['At'], { perm: [1, 0] }));
      a = 'At';
    }
    if (transB) {
      nodes.push(makeNode('Transpose', ['B'], ['Bt'], { perm: [1, 0] }));
      b = 'Bt';
    }
    nodes.push(makeNode('MatMul', [a, b], ['Y']));
    const graph = makeGraph(
      'owsd_matmul',
      nodes,
      [tensorInfo('A', dtype, ['a0', 'a1']), tensorInfo('B', dtype, ['b0', 'b1'])],
      [tensorInfo('Y', dtype, ['y0', 'y1'])],
    );
    s = createSession(serializeModel(makeModel(graph, { docString: `owsd dense product ${id}` })), { what: `the ${id} matrix product` });
    sessions.set(id, s);
  }
  return s;
}

async function runProduct<T extends Float32Array | Float64Array>(
  dtype: Dtype,
  a: { rows: number; cols: number; data: T },
  b: { rows: number; cols: number; data: T },
  transA: boolean,
  transB: boolean,
): Promise<{ rows: number; cols: number; data: T }> {
  const [m, k1] = transA ? [a.cols, a.rows] : [a.rows, a.cols];
  const [k2, n] = transB ? [b.cols, b.rows] : [b.rows, b.cols];
  if (k1 !== k2) {
    fail('OWSD_ERR_SHAPE', `matrix product: inner dimensions differ (${a.rows}x${a.cols}${transA ? 'ᵀ' : ''} times ${b.rows}x${b.cols}${transB ? 'ᵀ' : ''})`);
  }
  if (m === 0 || n === 0) return { rows: m, cols: n, data: (dtype === 'float32' ? new Float32Array(0) : new Float64Array(0)) as T };
  if (k1 === 0) return { rows: m, cols: n, data: (dtype === 'float32' ? new Float32Array(m * n) : new Float64Array(m * n)) as T };
  const session = await productSession(dtype, transA, transB);
  const ta = dtype === 'float32' ? new Tensor('float32', a.data as Float32Array, [a.rows, a.cols]) : new Tensor('float64', a.data as Float64Array, [a.rows, a.cols]);
  const tb = dtype === 'float32' ? new Tensor('float32', b.data as Float32Array, [b.rows, b.cols]) : new Tensor('float64', b.data as Float64Array, [b.rows, b.cols]);
  const res = await session.run({ A: ta, B: tb }, ['Y']);
  return { rows: m, cols: n, data: res.Y!.data as T };
}

/**
 * A·B (float32) with optional transposes, by onnxruntime. Without `transA`, a tall A is processed in chunks of
 * `CHUNK_ROWS` rows.
 */
export async function matmul(a: Dense, b: Dense, opts: { transA?: boolean; transB?: boolean } = {}): Promise<Dense> {
  const transA = opts.transA === true;
  const transB = opts.transB === true;
  if (transA || a.rows <= CHUNK_ROWS * 2) return runProduct('float32', a, b, transA, transB);
  const n = transB ? b.rows : b.cols;
  if ((transB ? b.cols : b.rows) !== a.cols) fail('OWSD_ERR_SHAPE', `matrix product: inner dimensions differ (${a.rows}x${a.cols} times ${b.rows}x${b.cols}${transB ? 'ᵀ' : ''})`);
  const out = new Float32Array(a.rows * n);
  for (let s = 0; s < a.rows; s += CHUNK_ROWS) {
    const part = await runProduct('float32', rowSlice(a, s, Math.min(CHUNK_ROWS, a.rows - s)), b, false, transB);
    out.set(part.data, s * n);
  }
  return { rows: a.rows, cols: n, data: out };
}

/** A·B in float64 with optional transposes, by onnxruntime (for factorisations). */
export function matmul64(a: Dense64, b: Dense64, opts: { transA?: boolean; transB?: boolean } = {}): Promise<Dense64> {
  return runProduct('float64', a, b, opts.transA === true, opts.transB === true);
}
