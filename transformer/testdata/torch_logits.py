#!/usr/bin/python3
"""Load a sinklab checkpoint into an equivalent PyTorch module and compare logits.

Usage: torch_logits.py CHECKPOINT_DIR BATCH.safetensors [TOL]

CHECKPOINT_DIR is runs/<id>/checkpoints/step-NNNNNNN (model.safetensors + state.json, whose
"config" holds the resolved sinklab config). BATCH.safetensors holds "tokens" (B, T) int64 and
"logits" (B, T', V) float32 as sinklab computed them. Prints the largest absolute difference and
exits 1 when it exceeds TOL (default 1e-4). Parses safetensors with its JSON header (no
safetensors package needed). Needs Debian's python3-torch.
"""
import json, math, struct, sys
import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=DTYPES[info["dtype"]]) if b > a else torch.zeros(0, dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out


def normalize(s, visible, variant, sink=None):
    """Row normalizers of attention/variants.go; visible is a bool mask of the same shape.

    sink (H) is the per-head sink logit (model.sink_logit, softmax only): a logit with no value in
    every row's denominator, p_j = e^{s_j} / (e^{b_h} + sum_k e^{s_k}).
    """
    neg = torch.finfo(s.dtype).min
    if sink is not None:
        if variant != "softmax":
            raise SystemExit(f"a sink logit needs softmax, not {variant}")
        b = sink.reshape(1, -1, 1, 1).expand(s.shape[0], -1, s.shape[2], 1)
        return torch.softmax(torch.cat([b, s.masked_fill(~visible, float("-inf"))], dim=-1), dim=-1)[..., 1:]
    if variant == "softpick":
        # Zuhri et al. 2025, the authors' reference code (softpick-attention, eps 1e-8): masked keys
        # are -inf and leave the denominator.
        x = s.masked_fill(~visible, float("-inf"))
        m = x.amax(-1, keepdim=True)
        e = torch.exp(x - m) - torch.exp(-m)
        a = torch.where(x.isfinite(), e.abs(), torch.zeros_like(e))
        return F.relu(e) / (a.sum(-1, keepdim=True) + 1e-8)
    if variant in ("softmax", "softmax1"):
        m = s.masked_fill(~visible, neg).amax(-1, keepdim=True)
        if variant == "softmax1":
            m = m.clamp(min=0)
        e = torch.exp(s - m) * visible
        z = e.sum(-1, keepdim=True)
        if variant == "softmax1":
            z = z + torch.exp(-m)
        return e / z
    if variant in ("sigmoid", "sigmoid-norm"):
        p = torch.sigmoid(s) * visible
        return p if variant == "sigmoid" else p / (p.sum(-1, keepdim=True) + 1e-9)
    if variant in ("elu", "elu-norm"):
        p = (F.elu(s) + 1) * visible
        return p if variant == "elu" else p / (p.sum(-1, keepdim=True) + 1e-9)
    if variant in ("dot", "kernel", "mlp"):
        return s * visible
    if variant == "kernel-norm":
        p = s * visible
        return p / (p.sum(-1, keepdim=True) + 1e-9)
    if variant in ("dot-norm", "mlp-norm"):
        p = s * visible
        return p / p.sum(-1, keepdim=True).abs().clamp(min=1)
    if variant == "uniform":
        p = visible.to(s.dtype)
        return p / (p.sum(-1, keepdim=True) + 1e-9)
    if variant == "relu-norm":
        p = torch.relu(s) * visible
        z = p.sum(-1, keepdim=True)
        return torch.where(z > 0, p / torch.where(z > 0, z, torch.ones_like(z)), torch.zeros_like(p))
    raise SystemExit(f"unknown attention variant {variant}")


def forward(W, mc, tokens):
    B, T = tokens.shape
    D, H = mc["d_model"], mc["n_heads"]
    HD = D // H
    ln = lambda x, p: F.layer_norm(x, (D,), W[p + ".w"], W[p + ".b"], eps=1e-5)
    x = W["embed.W_E"][tokens]
    if mc["positions"] == "concat":
        x = torch.cat([x, W["pos_embed.W_pos"][:T].expand(B, T, -1)], dim=-1)
    elif mc["positions"] == "learned-add":
        x = x + W["pos_embed.W_pos"][:T]
    if mc["sink_token"]:
        x = torch.cat([W["sink_token"].expand(B, 1, D), x], dim=1)
    Tp = x.shape[1]
    nb = 1 if mc["kv_bias"] else 0
    i = torch.arange(Tp)[:, None]
    j = torch.arange(Tp + nb)[None, :]
    visible = (j <= i + nb) if mc["causal"] else torch.ones(Tp, Tp + nb, dtype=torch.bool)
    for l in range(mc["n_layers"]):
        p = f"blocks.{l}."
        h = ln(x, p + "ln1") if mc["pre_ln"] else x
        qkv = h @ W[p + "attn.W_QKV"] + W[p + "attn.b_QKV"]
        q, k, v = (t.reshape(B, Tp, H, HD).transpose(1, 2) for t in qkv.split(D, dim=-1))
        if nb:
            kb = W[p + "attn.kv_bias"]
            k = torch.cat([kb[0].reshape(1, H, 1, HD).expand(B, H, 1, HD), k], dim=2)
            v = torch.cat([kb[1].reshape(1, H, 1, HD).expand(B, H, 1, HD), v], dim=2)
        if mc["attention"] in ("kernel", "kernel-norm"):  # the paper's linear attention: no 1/sqrt(HD)
            s = (F.elu(q) + 1) @ (F.elu(k) + 1).transpose(-2, -1)
        elif mc["attention"] in ("mlp", "mlp-norm"):  # one exact-GELU MLP per layer, shared by the heads
            phi = lambda x: F.gelu(x @ W[p + "attn.mlp.W_in"] + W[p + "attn.mlp.b_in"]) @ W[p + "attn.mlp.W_out"] + W[p + "attn.mlp.b_out"]
            s = phi(q) @ phi(k).transpose(-2, -1) / math.sqrt(HD)
        else:
            s = q @ k.transpose(-2, -1) / math.sqrt(HD)
        a = normalize(s, visible.expand_as(s), mc["attention"], W.get(p + "attn.sink_logit"))
        o = (a @ v).transpose(1, 2).reshape(B, Tp, D)
        gate = mc.get("gate") or "none"
        if gate != "none":  # gated attention: sigmoid(h W_g + b_g) from the q/k/v input, per head or channel
            g = torch.sigmoid(h @ W[p + "attn.W_gate"] + W[p + "attn.b_gate"])  # (B, Tp, H) or (B, Tp, D)
            if gate == "head":
                g = g.repeat_interleave(HD, dim=-1)
            o = o * g
        x = x + o @ W[p + "attn.W_O"] + W[p + "attn.b_O"]
        if mc["mlp"]:
            h = ln(x, p + "ln2") if mc["pre_ln"] else x
            approx = "tanh" if mc.get("gelu") == "tanh" else "none"  # erf: nn.GELU()'s exact form
            u = F.gelu(h @ W[p + "mlp.W_in"] + W[p + "mlp.b_in"], approximate=approx)
            x = x + u @ W[p + "mlp.W_out"] + W[p + "mlp.b_out"]
    if mc["pre_ln"]:
        x = ln(x, "ln_final")
    out = x @ W["unembed.W_U"]
    if "unembed.b_U" in W:  # the output projection's bias (model.unembed_bias)
        out = out + W["unembed.b_U"]
    return out


def main():
    ckpt, batch_path = sys.argv[1], sys.argv[2]
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-4
    with open(f"{ckpt}/state.json") as f:
        state = json.load(f)
    cfg = state["config"]
    mc = (cfg.get("config") or cfg)["model"]
    W = read_safetensors(f"{ckpt}/model.safetensors")
    batch = read_safetensors(batch_path)
    with torch.no_grad():
        got = forward(W, mc, batch["tokens"]).to(torch.float64)
    want = batch["logits"].to(torch.float64)
    if got.shape != want.shape:
        raise SystemExit(f"shape {tuple(got.shape)} != {tuple(want.shape)}")
    diff = (got - want).abs().max().item()
    print(f"max |logits_torch - logits_sinklab| = {diff:.3e} over {want.numel()} logits")
    sys.exit(0 if diff <= tol else 1)


if __name__ == "__main__":
    main()
