"""The peer's model for tests/bench/browser.mjs: the snippet's scoring as ONNX.

Reads the item factors of a Cove bundle's tensor file (f32 `item_factors`, or
`item_factors_i8` times `item_scales` when the bundle ships int8 only) and
writes an ONNX graph computing scores = user · Yᵀ (MatMul) and the k best
(TopK): inputs `user` float32 [1, d]; outputs `values`, `indices` [1, k].

Usage: python make_onnx.py TENSORS.safetensors OUT.onnx K
(run by browser.mjs in the pinned venv target/bench/onnx-venv, onnx==1.19.1).
"""
import json
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def read_tensor(data, header, name):
    info = header[name]
    start, end = info["data_offsets"]
    dtype = {"F32": np.float32, "I8": np.int8}[info["dtype"]]
    return np.frombuffer(data[start:end], dtype=dtype).reshape(info["shape"])


def item_factors(path):
    raw = open(path, "rb").read()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    data = raw[8 + header_len :]
    if "item_factors" in header:
        return read_tensor(data, header, "item_factors").astype(np.float32)
    quantised = read_tensor(data, header, "item_factors_i8").astype(np.float32)
    scales = read_tensor(data, header, "item_scales").astype(np.float32)
    return quantised * scales[:, None]


def main():
    tensors, out, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    factors = item_factors(tensors)
    n, d = factors.shape
    items_t = numpy_helper.from_array(np.ascontiguousarray(factors.T), name="items_t")
    k_tensor = numpy_helper.from_array(np.array([k], dtype=np.int64), name="k")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["user", "items_t"], ["scores"]),
            helper.make_node("TopK", ["scores", "k"], ["values", "indices"], axis=-1, largest=1, sorted=1),
        ],
        "cove_scoring",
        [helper.make_tensor_value_info("user", TensorProto.FLOAT, [1, d])],
        [
            helper.make_tensor_value_info("values", TensorProto.FLOAT, [1, k]),
            helper.make_tensor_value_info("indices", TensorProto.INT64, [1, k]),
        ],
        initializer=[items_t, k_tensor],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out)
    print(json.dumps({"n": n, "d": d, "k": k}))


if __name__ == "__main__":
    main()
