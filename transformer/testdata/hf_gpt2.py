#!/usr/bin/python3
"""Write a small random GPT-2 in the Hugging Face layout and the logits it computes.

Usage: hf_gpt2.py OUT_DIR [--prefix] [--buffers] [--seed N]

Writes OUT_DIR/config.json (transformers' GPT2Config keys), OUT_DIR/model.safetensors (the state
dict of GPT2Model, or of GPT2LMHeadModel's "transformer." names with --prefix; with --buffers also
the causal-mask buffers h.N.attn.bias and h.N.attn.masked_bias that older transformers saved),
OUT_DIR/tokenizer.json (a small byte-level BPE in the Hugging Face schema, <|endoftext|> last, as
GPT-2's) and OUT_DIR/batch.safetensors: "tokens" (B, T) int64 and "logits" (B, T, V) float32.

The model is GPT-2 as published (Radford et al. 2019; transformers' modeling_gpt2.py), written
here with plain torch ops, not the transformers library: learned token and position embeddings,
pre-LN blocks (ln_1, attention through Conv1D c_attn (in, out) → q, k, v split into heads, scores
/ √d_head, causal mask, softmax, c_proj; ln_2, MLP c_fc, gelu_new, c_proj), ln_f and the tied
unembedding wteᵀ without bias. Computed in float64 and written as float32. Safetensors are
written with struct + json (no safetensors package). Needs Debian's python3-torch.
"""
import json, math, os, struct, sys
import torch

V_MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("o", "n"), ("e", "r"), ("Ġ", "o")]
CFG = dict(n_embd=32, n_layer=2, n_head=4, n_positions=24, layer_norm_epsilon=1e-5)


def bytes_to_unicode():
    """GPT-2's byte-to-unicode alphabet (encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def tokenizer_json():
    alphabet = bytes_to_unicode()
    vocab = {alphabet[b]: i for i, b in enumerate(sorted(alphabet))}
    for a, b in V_MERGES:
        vocab[a + b] = len(vocab)
    eot = len(vocab)
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return eot + 1, {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": eot, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": [a + " " + b for a, b in V_MERGES]},
    }


def write_safetensors(path, tensors):
    """tensors: dict name -> torch tensor (float32 or int64), written in name order."""
    codes = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = t.numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": codes[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def gpt2_logits(sd, ids, cfg):
    """GPT-2 forward (modeling_gpt2.py, eval mode) on ids (B, T) → logits (B, T, V)."""
    B, T = ids.shape
    D, H, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    hd = D // H
    x = sd["wte.weight"][ids] + sd["wpe.weight"][torch.arange(T)]  # (B, T, D)
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(cfg["n_layer"]):
        p = lambda n: sd["h.%d.%s" % (l, n)]
        h = layer_norm(x, p("ln_1.weight"), p("ln_1.bias"), eps)
        qkv = h @ p("attn.c_attn.weight") + p("attn.c_attn.bias")  # Conv1D: (B, T, 3D)
        q, k, v = qkv.split(D, dim=2)
        q, k, v = [t.view(B, T, H, hd).transpose(1, 2) for t in (q, k, v)]  # (B, H, T, hd)
        s = q @ k.transpose(-1, -2) / math.sqrt(hd)  # (B, H, T, T)
        s = torch.where(causal, s, torch.tensor(torch.finfo(s.dtype).min, dtype=s.dtype))
        a = torch.softmax(s, dim=-1) @ v  # (B, H, T, hd)
        a = a.transpose(1, 2).reshape(B, T, D)
        x = x + a @ p("attn.c_proj.weight") + p("attn.c_proj.bias")
        h = layer_norm(x, p("ln_2.weight"), p("ln_2.bias"), eps)
        u = gelu_new(h @ p("mlp.c_fc.weight") + p("mlp.c_fc.bias"))
        x = x + u @ p("mlp.c_proj.weight") + p("mlp.c_proj.bias")
    x = layer_norm(x, sd["ln_f.weight"], sd["ln_f.bias"], eps)
    return x @ sd["wte.weight"].T  # tied lm_head, no bias


def main():
    out = sys.argv[1]
    prefix = "--prefix" in sys.argv
    buffers = "--buffers" in sys.argv
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
    torch.manual_seed(seed)
    os.makedirs(out, exist_ok=True)
    V, tok = tokenizer_json()
    cfg = dict(CFG)
    D, L, P = cfg["n_embd"], cfg["n_layer"], cfg["n_positions"]
    f64 = torch.float64
    # Weights larger than GPT-2's N(0, 0.02) initialisation, so every part of the model matters.
    sd = {"wte.weight": torch.randn(V, D, dtype=f64) * 0.5, "wpe.weight": torch.randn(P, D, dtype=f64) * 0.3}
    for l in range(L):
        p = "h.%d." % l
        sd[p + "ln_1.weight"] = 1 + 0.2 * torch.randn(D, dtype=f64)
        sd[p + "ln_1.bias"] = 0.1 * torch.randn(D, dtype=f64)
        sd[p + "attn.c_attn.weight"] = torch.randn(D, 3 * D, dtype=f64) * 0.3
        sd[p + "attn.c_attn.bias"] = torch.randn(3 * D, dtype=f64) * 0.1
        sd[p + "attn.c_proj.weight"] = torch.randn(D, D, dtype=f64) * 0.2
        sd[p + "attn.c_proj.bias"] = torch.randn(D, dtype=f64) * 0.1
        sd[p + "ln_2.weight"] = 1 + 0.2 * torch.randn(D, dtype=f64)
        sd[p + "ln_2.bias"] = 0.1 * torch.randn(D, dtype=f64)
        sd[p + "mlp.c_fc.weight"] = torch.randn(D, 4 * D, dtype=f64) * 0.2
        sd[p + "mlp.c_fc.bias"] = torch.randn(4 * D, dtype=f64) * 0.1
        sd[p + "mlp.c_proj.weight"] = torch.randn(4 * D, D, dtype=f64) * 0.1
        sd[p + "mlp.c_proj.bias"] = torch.randn(D, dtype=f64) * 0.1
    sd["ln_f.weight"] = 1 + 0.2 * torch.randn(D, dtype=f64)
    sd["ln_f.bias"] = 0.1 * torch.randn(D, dtype=f64)
    sd = {k: v.to(torch.float32).to(f64) for k, v in sd.items()}  # the float32 weights, computed in float64

    saved = {k: v.to(torch.float32) for k, v in sd.items()}
    if buffers:
        for l in range(L):
            saved["h.%d.attn.bias" % l] = torch.tril(torch.ones(P, P)).view(1, 1, P, P)
            saved["h.%d.attn.masked_bias" % l] = torch.tensor(-1e4)
    if prefix:
        saved = {"transformer." + k: v for k, v in saved.items()}
    write_safetensors(os.path.join(out, "model.safetensors"), saved)
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": V, "n_positions": P,
              "n_embd": D, "n_layer": L, "n_head": cfg["n_head"], "n_inner": None,
              "activation_function": "gelu_new", "layer_norm_epsilon": cfg["layer_norm_epsilon"],
              "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1, "initializer_range": 0.02,
              "scale_attn_weights": True, "use_cache": True, "bos_token_id": V - 1, "eos_token_id": V - 1,
              "torch_dtype": "float32"}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    B, T = 3, 16
    ids = torch.randint(0, V, (B, T))
    ids[:, 0] = V - 1  # <|endoftext|> first, as sinklab probe --bos feeds it
    logits = gpt2_logits(sd, ids, cfg).to(torch.float32)
    write_safetensors(os.path.join(out, "batch.safetensors"), {"tokens": ids.to(torch.int64), "logits": logits})
    print("wrote GPT-2 (V=%d, D=%d, L=%d, prefix=%s, buffers=%s) to %s" % (V, D, L, prefix, buffers, out))


if __name__ == "__main__":
    main()
