"""Real MLX (pip `mlx`; `mlx[cpu]` on Linux, `mlx-cuda-13` on NVIDIA) on the bench plan, with the
encoder of bench/peers/mlx_encoder.py loading the same safetensors; the forward pass is
mx.compile'd per shape, as MLX code meant to be fast is."""
import sys

from common import Engine, run_peer


class MlxEngine(Engine):
    name = "mlx"

    def __init__(self):
        import mlx.core as mx

        self.mx = mx

    def version(self):
        return f"mlx {self.mx.__version__}"

    def device_for(self, device):
        if device == "cpu":
            return self.mx.cpu
        return self.mx.gpu if self.mx.is_available(self.mx.gpu) else None

    def unsupported(self, case):
        return None if self.device_for(case["device"]) is not None else "this mlx build has no GPU backend"

    def load(self, model_dir, device, dtype):
        from mlx_encoder import load_encoder

        self.mx.set_default_device(self.device_for(device))
        return load_encoder(model_dir, getattr(self.mx, dtype))

    def prepare(self, model, inputs, case):
        mx = self.mx
        ids = mx.array(inputs["input_ids"]).astype(mx.int32)
        mask = mx.array(inputs["attention_mask"]).astype(mx.int32)
        compiled = mx.compile(model)
        return lambda: mx.eval(compiled(ids, mask))


if __name__ == "__main__":
    sys.exit(run_peer(lambda plan: [MlxEngine()], ["mlx"], "pip install 'mlx[cpu]' (Linux) or mlx-cuda-13"))
