"""PyTorch + transformers on the bench plan: AutoModel (AutoModelForCausalLM for causal LMs) from
the same checkpoint directory, eager and SDPA attention, threads matched to tessera's
(torch.set_num_threads). Causal LMs time a prefill into a fresh DynamicCache, or one greedy decode
step after the prompt, as tessera does."""
import json
import os
import sys

from common import Engine, run_peer


class TorchEngine(Engine):
    generates = True

    def __init__(self, attention, threads):
        import torch
        import transformers

        self.torch = torch
        self.attention = attention
        self.name = f"torch-{attention}"
        self._version = f"torch {torch.__version__}, transformers {transformers.__version__}"
        torch.set_num_threads(threads)

    def version(self):
        return self._version

    def unsupported(self, case):
        if case["device"] == "cuda" and not self.torch.cuda.is_available():
            return "torch has no CUDA device here"
        return None

    def load(self, model_dir, device, dtype):
        from transformers import AutoModel, AutoModelForCausalLM

        with open(os.path.join(model_dir, "config.json")) as f:
            causal = json.load(f).get("architectures", [""])[0].endswith("ForCausalLM")
        model_class = AutoModelForCausalLM if causal else AutoModel
        model = model_class.from_pretrained(model_dir, dtype=getattr(self.torch, dtype), attn_implementation=self.attention)
        return model.eval().to(device)

    def prepare(self, model, inputs, case):
        torch = self.torch
        ids = torch.from_numpy(inputs["input_ids"]).to(case["device"])
        mask = torch.from_numpy(inputs["attention_mask"]).to(case["device"])
        synchronize = torch.cuda.synchronize if case["device"] == "cuda" else (lambda: None)

        task = case.get("task", "forward")

        def forward():
            with torch.inference_mode():
                model(input_ids=ids, attention_mask=mask)
            synchronize()

        def prefill():
            with torch.inference_mode():
                out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
            synchronize()
            return out

        if task == "forward":
            return forward
        if task == "prefill":
            return prefill
        state = {"out": prefill()}

        def decode():
            with torch.inference_mode():
                prev = state["out"]
                nxt = prev.logits[:, -1:].argmax(-1)
                state["out"] = model(input_ids=nxt, past_key_values=prev.past_key_values, use_cache=True)
            synchronize()

        return decode

    def reset_device_peak(self, device):
        if device == "cuda":
            self.torch.cuda.reset_peak_memory_stats()

    def device_peak_mb(self, device):
        return self.torch.cuda.max_memory_allocated() / 1e6 if device == "cuda" else None


if __name__ == "__main__":
    # TESSERA_TORCH_ATTENTION=sdpa runs one engine: an 8B checkpoint is then loaded once, not twice.
    attentions = [a for a in os.environ.get("TESSERA_TORCH_ATTENTION", "eager,sdpa").split(",") if a]
    sys.exit(run_peer(lambda plan: [TorchEngine(a, plan["threads"]) for a in attentions],
                      [f"torch-{a}" for a in attentions], "see scripts/bench-peers-setup.sh"))
