"""An independent PyTorch forward pass of EVA02-CLIP, used to check vlm-compat's EVA-CLIP backbone.

Reads an EVA-CLIP layout safetensors file (vision keys under `visual.`, text keys at the top level) with
the parser of clip_reference.py, runs both towers in float64 and prints the features and the rotary tables
as JSON. The text tower is clip_reference.py's, because EVA-CLIP's text tower is CLIP's.
Usage: python3 eva_reference.py WEIGHTS INPUT_JSON
INPUT_JSON holds {"ids": [[...]], "pixels": [n][h][w][3], "heads": {"text": int, "vision": int},
"activation": "quick_gelu" | "gelu", "rope_reference_grid": int} and optionally
"prompts": [{"tokens": [p][width], "at": int}, ...]: each is a separate pass with prompt tokens inserted
into the vision sequence after the position embedding, which get no rotary embedding.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_reference import encode_text, read_safetensors  # noqa: E402

EPS = 1e-6


def rope_tables(head_dim, grid, reference):
    """Returns cos and sin [grid * grid, head_dim]: row angles in the first half, column angles in the second."""
    axis_dim = head_dim // 2
    freqs = 1.0 / (10000 ** (torch.arange(0, axis_dim, 2, dtype=torch.float64) / axis_dim))
    positions = torch.arange(grid, dtype=torch.float64) / grid * reference
    angles = torch.outer(positions, freqs).repeat_interleave(2, dim=-1)  # [grid, axis_dim], pairs share an angle
    rows = angles[:, None, :].expand(grid, grid, axis_dim)
    columns = angles[None, :, :].expand(grid, grid, axis_dim)
    table = torch.cat([rows, columns], dim=-1).reshape(grid * grid, head_dim)
    return table.cos(), table.sin()


def rotate_pairs(x):
    """Maps each feature pair (a, b) to (-b, a)."""
    pairs = x.reshape(*x.shape[:-1], -1, 2)
    return torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).reshape(x.shape)


def layer_norm(x, w, prefix):
    return F.layer_norm(x, (x.shape[-1],), w[prefix + ".weight"], w[prefix + ".bias"], EPS)


def eva_block(x, w, p, heads, cos, sin, patch_positions):
    n, t, width = x.shape
    d = width // heads
    h = layer_norm(x, w, p + "norm1")
    q = h @ w[p + "attn.q_proj.weight"].T + w[p + "attn.q_bias"]
    k = h @ w[p + "attn.k_proj.weight"].T
    v = h @ w[p + "attn.v_proj.weight"].T + w[p + "attn.v_bias"]
    q, k, v = (z.reshape(n, t, heads, d).transpose(1, 2) for z in (q, k, v))  # [n, heads, t, d]

    def rope(z):
        z = z.clone()
        part = z[:, :, patch_positions]
        z[:, :, patch_positions] = part * cos + rotate_pairs(part) * sin
        return z

    q, k = rope(q), rope(k)
    a = ((q @ k.transpose(-1, -2)) / d**0.5).softmax(-1) @ v
    a = layer_norm(a.transpose(1, 2).reshape(n, t, width), w, p + "attn.inner_attn_ln")
    x = x + a @ w[p + "attn.proj.weight"].T + w[p + "attn.proj.bias"]

    h = layer_norm(x, w, p + "norm2")
    gate = h @ w[p + "mlp.w1.weight"].T + w[p + "mlp.w1.bias"]
    value = h @ w[p + "mlp.w2.weight"].T + w[p + "mlp.w2.bias"]
    hidden = layer_norm(F.silu(gate) * value, w, p + "mlp.ffn_ln")
    return x + hidden @ w[p + "mlp.w3.weight"].T + w[p + "mlp.w3.bias"]


def encode_image(w, pixels, heads, reference, prompt):
    x = torch.tensor(pixels, dtype=torch.float64).permute(0, 3, 1, 2)
    conv = w["visual.patch_embed.proj.weight"]
    x = F.conv2d(x, conv, w["visual.patch_embed.proj.bias"], stride=conv.shape[-1])
    grid = x.shape[-1]
    x = x.flatten(2).transpose(1, 2)  # [n, grid * grid, width], patches in row-major order
    cls = w["visual.cls_token"].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1) + w["visual.pos_embed"]

    patch_positions = torch.arange(1, grid * grid + 1)
    class_position = 0
    if prompt is not None:
        tokens = torch.tensor(prompt["tokens"], dtype=torch.float64)
        at = prompt["at"]
        x = torch.cat([x[:, :at], tokens.expand(x.shape[0], -1, -1), x[:, at:]], dim=1)
        patch_positions = torch.where(patch_positions >= at, patch_positions + tokens.shape[0], patch_positions)
        class_position = tokens.shape[0] if at == 0 else 0

    width = x.shape[-1]
    cos, sin = rope_tables(width // heads, grid, reference)
    layers = len({k.split(".")[2] for k in w if k.startswith("visual.blocks.")})
    for i in range(layers):
        x = eva_block(x, w, f"visual.blocks.{i}.", heads, cos, sin, patch_positions)
    x = layer_norm(x[:, class_position], w, "visual.norm")
    return x @ w["visual.head.weight"].T + w["visual.head.bias"], cos, sin


def main():
    weights = read_safetensors(sys.argv[1])
    with open(sys.argv[2]) as f:
        request = json.load(f)
    heads = request["heads"]
    reference = request["rope_reference_grid"]
    with torch.no_grad():
        text = encode_text(weights, request["ids"], heads["text"], request["activation"])
        image, cos, sin = encode_image(weights, request["pixels"], heads["vision"], reference, None)
        prompted = [
            encode_image(weights, request["pixels"], heads["vision"], reference, prompt)[0].tolist()
            for prompt in request.get("prompts", [])
        ]
    result = {"text": text.tolist(), "image": image.tolist(), "prompted": prompted, "rope_cos": cos.tolist(), "rope_sin": sin.tolist()}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
