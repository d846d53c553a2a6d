"""The study's own `mlx-transformers` package (BertModel / RobertaModel / XLMRobertaModel in MLX)
on the bench plan, loading the same checkpoint directory with its from_pretrained."""
import sys

from common import Engine, run_peer


class MlxTransformersEngine(Engine):
    name = "mlx-transformers"

    def __init__(self):
        import mlx.core as mx
        import mlx_transformers
        import mlx_transformers.models as models

        self.mx = mx
        self.models = models
        self._version = f"mlx-transformers {mlx_transformers.__version__}, mlx {mx.__version__}"

    def version(self):
        return self._version

    def unsupported(self, case):
        if case["device"] != "cpu" and not self.mx.is_available(self.mx.gpu):
            return "this mlx build has no GPU backend"
        return None

    def load(self, model_dir, device, dtype):
        from transformers import AutoConfig

        self.mx.set_default_device(self.mx.cpu if device == "cpu" else self.mx.gpu)
        config = AutoConfig.from_pretrained(model_dir)
        model_class = getattr(self.models, config.architectures[0])
        model = model_class(config)
        model.from_pretrained(model_dir, dtype=getattr(self.mx, dtype), local_files_only=True)
        return model

    def prepare(self, model, inputs, case):
        mx = self.mx
        ids = mx.array(inputs["input_ids"])
        mask = mx.array(inputs["attention_mask"])

        def forward():
            out = model(input_ids=ids, attention_mask=mask)
            mx.eval(out.last_hidden_state, out.pooler_output)

        return forward


if __name__ == "__main__":
    sys.exit(run_peer(lambda plan: [MlxTransformersEngine()], ["mlx-transformers"], "pip install mlx-transformers"))
