"""Time the benchmark's CLIP ViT-B/16 computations in PyTorch, for comparison with vlm-compat.

Reads a JSON request from standard input and prints one JSON object with the timings on standard output.
The request holds: threads, repetitions, config (the ClipConfig the JavaScript side uses), text
({"ids": [prompts][tokens], "eot": [prompts], "contextStart": int, "contextTokens": int}, ids already cut
after the last end-of-text token) and images (count). Weights are random float32; only the shapes matter.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    """A pre-norm residual block, x + attn(ln_1(x)) then x + mlp(ln_2(x)), as in OpenAI CLIP."""

    def __init__(self, width, heads, mlp_width, eps):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, eps=eps)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width, eps=eps)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_width), QuickGELU(), nn.Linear(mlp_width, width))

    def forward(self, x, mask):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Tower(nn.Module):
    def __init__(self, tower):
        super().__init__()
        eps = tower["layerNormEps"]
        self.blocks = nn.ModuleList(
            Block(tower["width"], tower["heads"], tower["mlpWidth"], eps) for _ in range(tower["layers"])
        )

    def forward(self, x, mask=None):
        for block in self.blocks:
            x = block(x, mask)
        return x


class TextTower(nn.Module):
    def __init__(self, config):
        super().__init__()
        text = config["text"]
        self.token_embedding = nn.Embedding(text["vocabSize"], text["width"])
        self.positional_embedding = nn.Parameter(torch.randn(text["contextLength"], text["width"]) * 0.01)
        self.transformer = Tower(text)
        self.ln_final = nn.LayerNorm(text["width"], eps=text["layerNormEps"])
        self.projection = nn.Parameter(torch.randn(text["width"], config["embedDim"]) * 0.02)

    def forward(self, embeddings, eot):
        """Encodes token embeddings [prompts, tokens, width] pooled at `eot` → [prompts, embedDim]."""
        tokens = embeddings.shape[1]
        x = embeddings + self.positional_embedding[:tokens]
        mask = torch.full((tokens, tokens), float("-inf")).triu(1)
        x = self.ln_final(self.transformer(x, mask))
        return x[torch.arange(x.shape[0]), eot] @ self.projection


class VisionTower(nn.Module):
    def __init__(self, config):
        super().__init__()
        vision = config["vision"]
        width, patch = vision["width"], vision["patchSize"]
        grid = vision["imageSize"] // patch
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width) * 0.02)
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, width) * 0.01)
        self.ln_pre = nn.LayerNorm(width, eps=vision["layerNormEps"])
        self.transformer = Tower(vision)
        self.ln_post = nn.LayerNorm(width, eps=vision["layerNormEps"])
        self.projection = nn.Parameter(torch.randn(width, config["embedDim"]) * 0.02)

    def forward(self, pixels):
        """Encodes images [batch, 3, size, size] → [batch, embedDim]."""
        x = self.conv1(pixels).flatten(2).transpose(1, 2)  # [batch, grid * grid, width]
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.projection


def time_steps(step, repetitions):
    """Runs `step` once as a warm-up, then `repetitions` times; returns the median and the runs in ms."""
    step()
    runs = []
    for _ in range(repetitions):
        start = time.perf_counter()
        step()
        runs.append((time.perf_counter() - start) * 1000)
    return {"medianMs": statistics.median(runs), "runsMs": runs}


def bench_text(config, request, repetitions):
    """Times CoOp's step: the learned context replaces the placeholder tokens and gets the gradient."""
    text = request["text"]
    # CLIP has no dropout, so eval() changes no value. Gradients still reach the context.
    tower = TextTower(config).requires_grad_(False).eval()
    ids = torch.tensor(text["ids"], dtype=torch.long)
    eot = torch.tensor(text["eot"], dtype=torch.long)
    start, count = text["contextStart"], text["contextTokens"]

    with torch.no_grad():
        embeddings = tower.token_embedding(ids)  # [prompts, tokens, width], frozen
    prefix, suffix = embeddings[:, :start], embeddings[:, start + count :]
    context = (torch.randn(count, config["text"]["width"]) * 0.02).requires_grad_(True)
    image_features = F.normalize(torch.randn(32, config["embedDim"]), dim=-1)
    labels = torch.randint(0, ids.shape[0], (32,))

    def loss():
        placed = torch.cat([prefix, context.expand(ids.shape[0], -1, -1), suffix], dim=1)
        text_features = F.normalize(tower(placed, eot), dim=-1)
        return F.cross_entropy(100 * image_features @ text_features.T, labels)

    def forward_backward():
        context.grad = None
        loss().backward()

    def forward():
        with torch.no_grad():
            loss()

    return {
        "forwardBackward": time_steps(forward_backward, repetitions),
        "forward": time_steps(forward, repetitions),
    }


def bench_image(config, request, repetitions):
    # Under eval() and no_grad, nn.MultiheadAttention can take its fused inference path.
    tower = VisionTower(config).requires_grad_(False).eval()
    size = config["vision"]["imageSize"]
    pixels = torch.randn(request["images"], 3, size, size)

    def forward():
        with torch.no_grad():
            tower(pixels)

    return {"images": request["images"], "forward": time_steps(forward, repetitions)}


def main():
    request = json.load(sys.stdin)
    torch.manual_seed(0)
    torch.set_num_threads(request["threads"])
    config, repetitions = request["config"], request["repetitions"]
    result = {
        "torchVersion": torch.__version__,
        "threads": torch.get_num_threads(),
        "text": bench_text(config, request, repetitions),
        "image": bench_image(config, request, repetitions),
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
