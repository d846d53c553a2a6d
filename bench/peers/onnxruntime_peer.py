"""ONNX Runtime on the bench plan: the same checkpoint exported once with torch.onnx.export
(batch and sequence dynamic, cached beside the bench's other files), run by ORT's CPU provider
with all graph optimisations (its BERT fusions included) and tessera's thread count."""
import hashlib
import os
import sys
import warnings

from common import Engine, run_peer


def export_path(cache_dir, model_dir):
    """One export per checkpoint file version: the path and modification time name it."""
    weights = os.path.join(model_dir, "model.safetensors")
    stamp = f"{os.path.abspath(model_dir)}:{os.path.getmtime(weights) if os.path.exists(weights) else 0}"
    digest = hashlib.sha256(stamp.encode()).hexdigest()[:16]
    return os.path.join(cache_dir, "onnx", f"{os.path.basename(os.path.normpath(model_dir))}-{digest}.onnx")


def export_onnx(model_dir, path):
    import torch
    from transformers import AutoModel

    print(f"  onnxruntime: exporting {model_dir} to {path} (once)", file=sys.stderr, flush=True)
    model = AutoModel.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()

    class Outputs(torch.nn.Module):  # positional inputs, tensor outputs: what the exporter traces
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask)
            return out.last_hidden_state, out.pooler_output

    ids = torch.ones((2, 16), dtype=torch.int64) * 5
    mask = torch.ones((2, 16), dtype=torch.int64)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = path + ".partial"
    dims = {0: "batch", 1: "sequence"}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(Outputs(), (ids, mask), partial, input_names=["input_ids", "attention_mask"],
                          output_names=["last_hidden_state", "pooler_output"],
                          dynamic_axes={"input_ids": dims, "attention_mask": dims, "last_hidden_state": dims},
                          opset_version=17, dynamo=False)
    os.replace(partial, path)


class OrtEngine(Engine):
    name = "onnxruntime"

    def __init__(self, plan):
        import onnxruntime

        self.ort = onnxruntime
        self.plan = plan

    def version(self):
        return f"onnxruntime {self.ort.__version__}"

    def unsupported(self, case):
        if case["device"] != "cpu":
            return "this driver runs ORT's CPU provider only"
        if case["dtype"] != "float32":
            return "exported as float32 only"
        return None

    def convert(self, model_dir):
        path = export_path(self.plan["cache_dir"], model_dir)
        if not os.path.exists(path):
            export_onnx(model_dir, path)

    def load(self, model_dir, device, dtype):
        path = export_path(self.plan["cache_dir"], model_dir)
        options = self.ort.SessionOptions()
        options.intra_op_num_threads = self.plan["threads"]
        options.inter_op_num_threads = 1
        options.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return self.ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def prepare(self, session, inputs, case):
        feeds = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
        return lambda: session.run(None, feeds)


if __name__ == "__main__":
    sys.exit(run_peer(lambda plan: [OrtEngine(plan)], ["onnxruntime"], "see scripts/bench-peers-setup.sh"))
