/**
 * The part of ONNX's protobuf schema (onnx.proto, IR version 8) that lape writes, as a protobufjs
 * descriptor, and the encoder of a whole model. Field numbers are ONNX's; protobufjs does the wire
 * format. Only what an exported inference graph needs is declared: no sparse tensors, functions,
 * training info or external data.
 */
import protobuf from 'protobufjs/light.js';

/** TensorProto.DataType values lape uses. */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;

/** AttributeProto.AttributeType values lape uses. */
export const ATTR_FLOAT = 1;
export const ATTR_INT = 2;
export const ATTR_TENSOR = 4;
export const ATTR_INTS = 7;

/** The ONNX IR version of opset 17 models (ONNX 1.12). */
export const IR_VERSION = 8;

const str = (id: number) => ({ type: 'string', id });
const i64 = (id: number) => ({ type: 'int64', id });
const msg = (type: string, id: number) => ({ type, id });
const list = (type: string, id: number) => ({ rule: 'repeated', type, id });

const schema = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: str(1),
            type: { type: 'int32', id: 20 },
            f: { type: 'float', id: 2 },
            i: i64(3),
            s: { type: 'bytes', id: 4 },
            t: msg('TensorProto', 5),
            floats: list('float', 7),
            ints: list('int64', 8),
          },
        },
        ValueInfoProto: { fields: { name: str(1), type: msg('TypeProto', 2), doc_string: str(3) } },
        NodeProto: {
          fields: {
            input: list('string', 1),
            output: list('string', 2),
            name: str(3),
            op_type: str(4),
            attribute: list('AttributeProto', 5),
            domain: str(7),
          },
        },
        StringStringEntryProto: { fields: { key: str(1), value: str(2) } },
        ModelProto: {
          fields: {
            ir_version: i64(1),
            producer_name: str(2),
            producer_version: str(3),
            domain: str(4),
            model_version: i64(5),
            doc_string: str(6),
            graph: msg('GraphProto', 7),
            opset_import: list('OperatorSetIdProto', 8),
            metadata_props: list('StringStringEntryProto', 14),
          },
        },
        GraphProto: {
          fields: {
            node: list('NodeProto', 1),
            name: str(2),
            initializer: list('TensorProto', 5),
            doc_string: str(10),
            input: list('ValueInfoProto', 11),
            output: list('ValueInfoProto', 12),
          },
        },
        TensorProto: {
          fields: {
            dims: list('int64', 1),
            data_type: { type: 'int32', id: 2 },
            name: str(8),
            raw_data: { type: 'bytes', id: 9 },
          },
        },
        TensorShapeProto: {
          fields: { dim: list('Dimension', 1) },
          nested: { Dimension: { fields: { dim_value: i64(1), dim_param: str(2) } } },
        },
        TypeProto: {
          fields: { tensor_type: msg('TensorTypeProto', 1) },
        },
        // TypeProto.Tensor in onnx.proto; a nested message's name is not part of the wire format.
        TensorTypeProto: {
          fields: { elem_type: { type: 'int32', id: 1 }, shape: msg('TensorShapeProto', 2) },
        },
        OperatorSetIdProto: { fields: { domain: str(1), version: i64(2) } },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(schema);
const ModelProto = root.lookupType('onnx.ModelProto');

export interface OnnxAttribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  ints?: number[];
  t?: OnnxTensor;
}

export interface OnnxNode {
  input: string[];
  output: string[];
  name: string;
  op_type: string;
  attribute: OnnxAttribute[];
}

export interface OnnxTensor {
  name?: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

/** A dimension is a number or a symbolic name ('batch'). */
export interface OnnxValueInfo {
  name: string;
  elemType: number;
  shape: (number | string)[];
  doc?: string;
}

export interface OnnxModel {
  opset: number;
  producerVersion: string;
  docString: string;
  graphName: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  metadata: Record<string, string>;
}

function valueInfo(v: OnnxValueInfo): object {
  return {
    name: v.name,
    doc_string: v.doc,
    type: {
      tensor_type: {
        elem_type: v.elemType,
        shape: {
          dim: v.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })),
        },
      },
    },
  };
}

/** Serializes a model to ONNX's protobuf bytes. */
export function encodeOnnxModel(m: OnnxModel): Uint8Array {
  const message = ModelProto.fromObject({
    ir_version: IR_VERSION,
    producer_name: 'lape',
    producer_version: m.producerVersion,
    doc_string: m.docString,
    opset_import: [{ domain: '', version: m.opset }],
    metadata_props: Object.entries(m.metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: m.graphName,
      node: m.nodes,
      initializer: m.initializers,
      input: m.inputs.map(valueInfo),
      output: m.outputs.map(valueInfo),
    },
  });
  return ModelProto.encode(message).finish();
}

/** Decodes ONNX bytes into plain objects (for tests and inspection). */
export function decodeOnnxModel(bytes: Uint8Array): Record<string, unknown> {
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, bytes: Array, defaults: false });
}
