"""Reference peer for hone's DPO: TRL's own DPOTrainer (trl 1.16) computes the loss, the reward metrics and the
LoRA gradients, float32, on the CPU.

usage: dpo_peer.py dpo MODEL_DIR ADAPTER_DIR PAIRS_JSON OUT_DIR --beta B --loss sigmoid|ipo [--reference base|adapter]
                  [--reference-adapter REF_DIR]
    MODEL_DIR: an HF directory (or a .gguf file, as model_peer.load takes it); ADAPTER_DIR: a PEFT LoRA adapter
    (adapter_config.json + adapter_model.safetensors, lora_dropout 0) the policy starts from.
    PAIRS_JSON: {"pairs": [{"prompt": [ids], "chosen": [ids], "rejected": [ids]}, ...]}, token ids. Every completion
    token (chosen / rejected) carries loss, no prompt token does; nothing is added (no EOS) and nothing is cut.
    --reference base (default): the reference is the base model, adapter disabled. TRL's path for a fresh adapter:
        the trainer gets the base model and peft_config (the adapter's LoraConfig), wraps it with get_peft_model
        itself, and we then load the adapter's weights into its "default" adapter; TRL's reference forward runs
        under use_adapter(model, None) = model.disable_adapter().
    --reference adapter: the reference is a frozen copy of the starting adapter. TRL's path for a pretrained
        adapter: the trainer gets PeftModel.from_pretrained(base, ADAPTER_DIR, is_trainable=True) and no ref_model;
        it adds a "ref" adapter, copies "default" into it, and runs the reference under use_adapter(model, "ref").
    Writes OUT_DIR/result.json:
        {"loss", "rewards_chosen", "rewards_rejected", "margin", "accuracy",   (TRL's logged batch means)
         "policy_chosen_logps", "policy_rejected_logps", "ref_chosen_logps", "ref_rejected_logps"}  (per pair)
    and OUT_DIR/grads.safetensors: d(loss)/d(every LoRA factor of the "default" adapter), float32, under PEFT's
    saved names (".default" removed, as train_peer.py), e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight.
usage: dpo_peer.py selftest
    Checks TRL's loss, logps and gradients against a hand computation from plain model forwards (one unpadded
    sequence at a time), for both losses and both reference modes, on a tiny random llama3 and qwen2.

What TRL computes (dpo_trainer.py, DPOTrainer._compute_loss, f_divergence_type reverse_kl, one loss type):
    logp(seq) = sum over completion tokens t of log softmax(logits[t-1])[token t]   (prompt tokens excluded)
    pc, pr = policy logp of chosen, rejected; rc, rr = reference logp; Δc = pc - rc, Δr = pr - rr
    sigmoid: loss = mean over pairs of -logsigmoid(β (Δc - Δr))
    ipo:     loss = mean over pairs of (Δc/nc - Δr/nr - 1/(2β))², nc, nr = completion token counts
    rewards/chosen = mean β Δc, rewards/rejected = mean β Δr (log-ratios summed over tokens, never per-token),
    rewards/margins = mean β (Δc - Δr), rewards/accuracies = mean [β Δc > β Δr] (strict).
Settings pinned so nothing else enters: label_smoothing 0, use_weighting False, ld_alpha None, loss_weights None,
rpo none (1.16 has no rpo_alpha), f_divergence reverse_kl, padding_free False, max_length None (no truncation),
pad_to_multiple_of None, gradient_checkpointing False, use_liger_kernel False, bf16/fp16 False, use_cpu, dropout
disabled (disable_dropout True, and the adapter's lora_dropout is 0), precompute_ref_log_probs False (the
reference runs on the same batch inside _compute_loss). The whole set of pairs is one batch: TRL's
DataCollatorForPreference puts the prompt+chosen rows first, then the prompt+rejected rows, right-padded with an
attention mask, so padding cannot change a causal model's numbers at the real positions (the selftest checks it).
TRL internals relied on: the pre-tokenized columns prompt_ids / chosen_ids / rejected_ids (what its
_prepare_dataset produces and its collator and _signature_columns consume); _prepare_dataset is bypassed with a
subclass because in 1.16 it would re-tokenize text columns (and append EOS); trainer.data_collator builds the batch;
trainer.compute_loss(model, batch) -> _compute_loss gives the loss and fills trainer._metrics["train"]; the
per-pair logps are the outputs of _compute_loss's own two forwards through trainer.model (policy with grad, reference
under no_grad; model(..., labels, fused_lm_head=True).log_probs, which is zero off the completion), read with a
forward hook and summed as _compute_loss sums them, then checked against TRL's logged logps/* and rewards/* means.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import torch
from safetensors.torch import save_file

from model_peer import load  # a .gguf file through transformers' GGUF loader, or an HF directory

torch.set_grad_enabled(True)  # model_peer turns gradients off for its inference-only peers


def _tokenizer():
    """DPOTrainer requires a processing class with a pad token; the ids are pre-tokenized, so a two-word vocabulary
    does (pad id 0: right padding under an attention mask, so its value never reaches a real position)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(WordLevel({"<pad>": 0, "<unk>": 1}, unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<pad>", unk_token="<unk>")


def _trainer_class():
    from trl import DPOTrainer

    class PreTokenizedDPOTrainer(DPOTrainer):
        # TRL 1.16's _prepare_dataset always extracts the prompt, appends EOS to the text completions and tokenizes;
        # our dataset already holds its output columns (prompt_ids, chosen_ids, rejected_ids), so keep it as is.
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset

    return PreTokenizedDPOTrainer


def run_dpo(model_dir, adapter_dir, pairs, beta, loss_type, reference, out_dir=None, ref_adapter_dir=None):
    """Returns (result dict, grads dict). Writes result.json and grads.safetensors to out_dir if given."""
    from datasets import Dataset
    from peft import LoraConfig, PeftModel, load_peft_weights, set_peft_model_state_dict
    from trl import DPOConfig

    assert loss_type in ("sigmoid", "ipo"), loss_type
    assert reference in ("base", "adapter"), reference
    assert not ref_adapter_dir or reference == "adapter", "--reference-adapter needs --reference adapter"
    examples = [{"prompt_ids": [int(t) for t in p["prompt"]], "chosen_ids": [int(t) for t in p["chosen"]],
                 "rejected_ids": [int(t) for t in p["rejected"]]} for p in pairs]
    for e in examples:
        assert e["prompt_ids"] and e["chosen_ids"] and e["rejected_ids"], "empty prompt or completion"
    dataset = Dataset.from_list(examples)

    base = load(model_dir)
    base.config.use_cache = False
    if model_dir.endswith(".gguf"):
        # transformers dequantises GGUF to float32 on load but keeps its quantizer, which Trainer refuses to train.
        assert all(p.dtype == torch.float32 for p in base.parameters())
        base.hf_quantizer = None
        if hasattr(base, "is_quantized") and not isinstance(getattr(type(base), "is_quantized", None), property):
            base.is_quantized = False
    lora_cfg = LoraConfig.from_pretrained(adapter_dir)
    assert not lora_cfg.lora_dropout, "the adapter must have lora_dropout 0"
    with tempfile.TemporaryDirectory() as tmp:
        args = DPOConfig(output_dir=tmp, beta=beta, loss_type=[loss_type], loss_weights=None, label_smoothing=0.0,
                         use_weighting=False, ld_alpha=None, f_divergence_type="reverse_kl", padding_free=False,
                         max_length=None, pad_to_multiple_of=None, precompute_ref_log_probs=False,
                         gradient_checkpointing=False, use_liger_kernel=False, bf16=False, fp16=False, use_cpu=True,
                         disable_dropout=True, sync_ref_model=False, per_device_train_batch_size=len(examples),
                         report_to="none", remove_unused_columns=False, dataset_num_proc=None)
        trainer_cls = _trainer_class()
        if reference == "base":
            # A fresh adapter from the trainer's point of view; its random init is then replaced by ADAPTER_DIR's
            # weights, and the reference is the base model (adapter disabled).
            lora_cfg.inference_mode = False
            trainer = trainer_cls(model=base, args=args, train_dataset=dataset, processing_class=_tokenizer(),
                                  peft_config=lora_cfg)
            saved = load_peft_weights(adapter_dir, device="cpu")
            res = set_peft_model_state_dict(trainer.model, saved)
            assert not res.unexpected_keys, res.unexpected_keys
            assert not [k for k in res.missing_keys if "lora_" in k], res.missing_keys
            assert "ref" not in trainer.model.peft_config
        else:
            policy = PeftModel.from_pretrained(base, adapter_dir, is_trainable=True)
            trainer = trainer_cls(model=policy, args=args, train_dataset=dataset, processing_class=_tokenizer())
            assert "ref" in trainer.model.peft_config, "TRL did not add the frozen 'ref' adapter"
            if ref_adapter_dir:
                # A reference other than the policy's start (a run after its first steps): TRL's frozen
                # "ref" copy gets that adapter's weights.
                res = set_peft_model_state_dict(trainer.model, load_peft_weights(ref_adapter_dir, device="cpu"),
                                                adapter_name="ref")
                assert not res.unexpected_keys, res.unexpected_keys
        model = trainer.model
        assert model.active_adapters == ["default"], model.active_adapters
        model.train()  # metrics go to _metrics["train"]; dropout is off, so only the mode name changes
        model.zero_grad(set_to_none=True)

        # Record the per-token log-probs of the two forwards _compute_loss makes through trainer.model: the policy
        # (with grad) and the reference (under no_grad, with the adapter switched by TRL's use_adapter).
        captured = {}

        def record(module, args_, kwargs_, output):
            key = "policy" if torch.is_grad_enabled() else "ref"
            assert key not in captured, "unexpected extra forward"
            captured[key] = output.log_probs.detach()
        hook = model.register_forward_hook(record, with_kwargs=True)
        batch = trainer.data_collator(examples)
        loss = trainer.compute_loss(model, batch)
        hook.remove()
        loss.backward()
        metrics = {k: v[-1] for k, v in trainer._metrics["train"].items()}
        seq_len = batch["completion_mask"].size(1) - 1  # as _compute_loss slices and sums them
        pol_chosen, pol_rejected = captured["policy"][:, -seq_len:].sum(dim=1).chunk(2, dim=0)
        ref_chosen, ref_rejected = captured["ref"][:, -seq_len:].sum(dim=1).chunk(2, dim=0)

    # The per-pair numbers must reproduce what TRL logged.
    assert abs(pol_chosen.mean().item() - metrics["logps/chosen"]) < 1e-4, (pol_chosen, metrics)
    assert abs(pol_rejected.mean().item() - metrics["logps/rejected"]) < 1e-4, (pol_rejected, metrics)
    assert abs(beta * (pol_chosen - ref_chosen).mean().item() - metrics["rewards/chosen"]) < 1e-4, metrics
    assert abs(beta * (pol_rejected - ref_rejected).mean().item() - metrics["rewards/rejected"]) < 1e-4, metrics

    grads = {}
    for name, p in model.named_parameters():
        if ".default." in name:
            assert p.requires_grad and p.grad is not None, name
            grads[name.replace(".default", "")] = p.grad.detach().float().contiguous()
        else:
            assert p.grad is None, name  # base weights and the "ref" copy stay frozen
    result = {"loss": loss.item(), "rewards_chosen": metrics["rewards/chosen"],
              "rewards_rejected": metrics["rewards/rejected"], "margin": metrics["rewards/margins"],
              "accuracy": metrics["rewards/accuracies"],
              "policy_chosen_logps": pol_chosen.tolist(), "policy_rejected_logps": pol_rejected.tolist(),
              "ref_chosen_logps": ref_chosen.tolist(), "ref_rejected_logps": ref_rejected.tolist()}
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "result.json"), "w") as f:
            json.dump(result, f, indent=1)
        save_file(grads, os.path.join(out_dir, "grads.safetensors"))
    return result, grads


def _hand(model_dir, adapter_dir, pairs, beta, loss_type, reference):
    """The formulas in the docstring from plain forwards: each sequence alone, unpadded, full logits."""
    from peft import PeftModel
    base = load(model_dir)
    base.config.use_cache = False
    pm = PeftModel.from_pretrained(base, adapter_dir, is_trainable=True)
    pm.train()
    ref = load(model_dir).eval() if reference == "base" else PeftModel.from_pretrained(load(model_dir), adapter_dir).eval()

    def logp(m, prompt, completion):
        ids = torch.tensor([prompt + completion])
        lp = torch.log_softmax(m(input_ids=ids).logits[0].float(), dim=-1)
        pos = torch.arange(len(prompt) - 1, len(prompt) + len(completion) - 1)
        return lp[pos, torch.tensor(completion)].sum()

    losses, out = [], {k: [] for k in ("pc", "pr", "rc", "rr")}
    for p in pairs:
        pc, pr = logp(pm, p["prompt"], p["chosen"]), logp(pm, p["prompt"], p["rejected"])
        with torch.no_grad():
            rc, rr = logp(ref, p["prompt"], p["chosen"]), logp(ref, p["prompt"], p["rejected"])
        dc, dr = pc - rc, pr - rr
        if loss_type == "sigmoid":
            losses.append(-torch.nn.functional.logsigmoid(beta * (dc - dr)))
        else:
            losses.append((dc / len(p["chosen"]) - dr / len(p["rejected"]) - 1 / (2 * beta)) ** 2)
        for k, v in zip(("pc", "pr", "rc", "rr"), (pc, pr, rc, rr)):
            out[k].append(v.item())
    loss = torch.stack(losses).mean()
    loss.backward()
    grads = {n.replace(".default", ""): p.grad.detach().clone() for n, p in pm.named_parameters() if p.requires_grad}
    return loss.item(), out, grads


def selftest():
    from model_peer import tiny
    from peft import LoraConfig, get_peft_model
    fails = 0
    with tempfile.TemporaryDirectory() as tmp:
        for family in ("llama3", "qwen2"):
            model_dir, adapter_dir = os.path.join(tmp, family), os.path.join(tmp, family + "-lora")
            tiny(model_dir, family)
            torch.manual_seed(1)
            cfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, init_lora_weights=False, task_type="CAUSAL_LM",
                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                             "down_proj"])
            pm = get_peft_model(load(model_dir), cfg)
            with torch.no_grad():  # random A and B: the policy differs from the base and every factor gets a gradient
                for n, p in pm.named_parameters():
                    if "lora_" in n:
                        p.normal_(0.0, 0.3)
            pm.save_pretrained(adapter_dir)
            g = torch.Generator().manual_seed(2)

            def ids(n):
                return torch.randint(2, 256, (n,), generator=g).tolist()
            # different prompt and completion lengths, so the batch is padded in several places
            pairs = [{"prompt": ids(5), "chosen": ids(4), "rejected": ids(7)},
                     {"prompt": ids(9), "chosen": ids(6), "rejected": ids(2)},
                     {"prompt": ids(3), "chosen": ids(1), "rejected": ids(5)}]
            for loss_type, beta in (("sigmoid", 0.1), ("ipo", 0.5)):
                for reference in ("base", "adapter"):
                    t0 = time.time()
                    res, grads = run_dpo(model_dir, adapter_dir, pairs, beta, loss_type, reference)
                    dt = time.time() - t0
                    hl, hv, hg = _hand(model_dir, adapter_dir, pairs, beta, loss_type, reference)
                    err_loss = abs(res["loss"] - hl)
                    err_logps = max(abs(a - b) for k, key in (("pc", "policy_chosen_logps"),
                                                              ("pr", "policy_rejected_logps"),
                                                              ("rc", "ref_chosen_logps"),
                                                              ("rr", "ref_rejected_logps"))
                                    for a, b in zip(hv[k], res[key]))
                    assert sorted(grads) == sorted(hg), (sorted(grads)[:3], sorted(hg)[:3])
                    err_grad = max(((grads[n] - hg[n]).abs().max() / hg[n].abs().max().clamp(min=1e-12)).item()
                                   for n in hg)
                    dc = [a - b for a, b in zip(hv["pc"], hv["rc"])]
                    dr = [a - b for a, b in zip(hv["pr"], hv["rr"])]
                    err_rw = max(abs(res["rewards_chosen"] - beta * sum(dc) / len(dc)),
                                 abs(res["rewards_rejected"] - beta * sum(dr) / len(dr)),
                                 abs(res["margin"] - beta * (sum(dc) - sum(dr)) / len(dc)))
                    acc = sum(beta * c > beta * r for c, r in zip(dc, dr)) / len(dc)
                    ok = (err_loss < 1e-6 and err_logps < 1e-4 and err_grad < 1e-4 and err_rw < 1e-5
                          and abs(res["accuracy"] - acc) < 1e-6)
                    fails += not ok
                    print(f"{'ok  ' if ok else 'FAIL'} {family:6} {loss_type:7} ref={reference:7} "
                          f"loss={res['loss']:.6f} hand={hl:.6f} |dloss|={err_loss:.1e} |dlogp|={err_logps:.1e} "
                          f"grad rel={err_grad:.1e} |drewards|={err_rw:.1e} acc={res['accuracy']:.3f}/{acc:.3f} dc-dr={[round(c - r, 6) for c, r in zip(dc, dr)]} "
                          f"tensors={len(grads)} {dt:.1f}s", flush=True)
    print("selftest " + ("passed" if not fails else f"FAILED ({fails})"))
    return fails == 0


def main():
    import warnings
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    if sys.argv[1:2] == ["selftest"]:
        sys.exit(0 if selftest() else 1)
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("cmd", choices=["dpo"])
    ap.add_argument("model_dir")
    ap.add_argument("adapter_dir")
    ap.add_argument("pairs_json")
    ap.add_argument("out_dir")
    ap.add_argument("--beta", type=float, required=True)
    ap.add_argument("--loss", choices=["sigmoid", "ipo"], required=True)
    ap.add_argument("--reference", choices=["base", "adapter"], default="base")
    ap.add_argument("--reference-adapter", default=None,
                    help="with --reference adapter: the frozen reference is this adapter instead of ADAPTER_DIR")
    a = ap.parse_args()
    pairs = json.load(open(a.pairs_json))["pairs"]
    res, grads = run_dpo(a.model_dir, a.adapter_dir, pairs, a.beta, a.loss, a.reference, a.out_dir,
                         a.reference_adapter)
    print(json.dumps({"loss": res["loss"], "tensors": len(grads)}))


if __name__ == "__main__":
    main()
