"""ONNX Runtime at 10^6 rows in one process, 60 rounds of 10-call blocks in turn: the exported
model, the flat Mul + Add reference (ort-stream) and the exported graph's shape (ort-line), one
thread, spinning off.

    .venv/bin/python results/ort-reference/inprocess.py EXPORT/model.onnx > results/ort-reference/inprocess.out
"""
import time, statistics, numpy as np, onnx, onnxruntime as ort
from onnx import helper, TensorProto
N=1_000_000
def sess_from_model(model):
    o=ort.SessionOptions(); o.intra_op_num_threads=1; o.inter_op_num_threads=1; o.log_severity_level=3
    o.add_session_config_entry("session.intra_op.allow_spinning","0")
    return ort.InferenceSession(model if isinstance(model,bytes) else model, o, providers=["CPUExecutionProvider"])
def graph(reshape):
    consts=[helper.make_tensor("a",TensorProto.FLOAT,[1],[0.7]),helper.make_tensor("b",TensorProto.FLOAT,[1],[0.3])]
    if reshape:
        consts+= [helper.make_tensor("flat",TensorProto.INT64,[1],[-1]),helper.make_tensor("col",TensorProto.INT64,[2],[-1,1])]
        nodes=[helper.make_node("Reshape",["x","flat"],["f"]),helper.make_node("Mul",["f","a"],["t"]),helper.make_node("Add",["t","b"],["u"]),helper.make_node("Reshape",["u","col"],["y"])]
        shape=[N,1]
    else:
        nodes=[helper.make_node("Mul",["x","a"],["t"]),helper.make_node("Add",["t","b"],["y"])]; shape=[N]
    g=helper.make_graph(nodes,"r",[helper.make_tensor_value_info("x",TensorProto.FLOAT,shape)],[helper.make_tensor_value_info("y",TensorProto.FLOAT,shape)],consts)
    m=helper.make_model(g,opset_imports=[helper.make_opsetid("",17)]); m.ir_version=8
    return sess_from_model(m.SerializeToString()), shape
def bound(s, shape):
    x=np.ones(shape,np.float32); y=np.empty(shape,np.float32); b=s.io_binding()
    b.bind_cpu_input(s.get_inputs()[0].name,x); b.bind_output(s.get_outputs()[0].name,"cpu",0,np.float32,shape,y.ctypes.data)
    keep=(x,y); return lambda: s.run_with_iobinding(b) and keep
import sys
MODEL = sys.argv[1]  # the exported model.onnx (an export folder of make run or bench)
prod=sess_from_model(MODEL)
print([n.op_type for n in onnx.load(MODEL).graph.node])
calls={"product":bound(prod,[N,1]),"refA_flat":bound(*graph(False)),"refB_reshape":bound(*graph(True))}
for f in calls.values():
    for _ in range(20): f()
res={k:[] for k in calls}
for r in range(60):
    for k,f in calls.items():
        t=time.perf_counter(); 
        for _ in range(10): f()
        res[k].append((time.perf_counter()-t)/10)
for k,v in res.items(): print(k, f"{statistics.median(v)*1e6:.0f} us")
pa=[p/a for p,a in zip(res["product"],res["refA_flat"])]; pb=[p/b for p,b in zip(res["product"],res["refB_reshape"])]
print("product/refA", round(statistics.median(pa),3), "sd", round(statistics.stdev([np.log(x) for x in pa]),3))
print("product/refB", round(statistics.median(pb),3), "sd", round(statistics.stdev([np.log(x) for x in pb]),3))
