"""A PyTorch replica of the CNN judge (src/models/digit-cnn.ts, DIGIT_CNN_BASE_CONFIG: 3x3 convolutions
16 (stride 1), 32 (stride 2), 64 (stride 2), padding 1, tanh-GELU after each, Linear(7*7*64 -> 10) on the
NHWC-flattened map) trained with the engine's `pretrain cnn` recipe: all ten digits of the repository's
fixed train split, random integer shifts in [-2, 2]^2 (zero fill), batch 64, Adam lr 2e-3, 50 warm-up
steps then cosine to 2 %, 1,200 steps, softmax cross-entropy.

Why: the engine's run of this recipe on the project's 2 shared CPU cores (SwiftShader) did 108 of
1,200 steps in 23 minutes. The engine loads and evaluates the exported weights
(`npm run cli -- pretrain cnn --weights <export>`): every accuracy in the checkpoint's metadata
is the engine's.

  npx tsx scripts/torch/split.ts
  python3 scripts/torch/digit_cnn.py --export repro-results/torch/cnn-export.safetensors
  npm run cli -- pretrain cnn --weights repro-results/torch/cnn-export.safetensors
"""
import argparse, json, math, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors_io import write_safetensors

p = argparse.ArgumentParser()
p.add_argument('--steps', type=int, default=1200)
p.add_argument('--batch', type=int, default=64)
p.add_argument('--lr', type=float, default=2e-3)
p.add_argument('--warmup', type=int, default=50)
p.add_argument('--seed', type=int, default=1)
p.add_argument('--threads', type=int, default=2)
p.add_argument('--export', default='')
a = p.parse_args()
torch.manual_seed(a.seed); np.random.seed(a.seed); torch.set_num_threads(a.threads)

raw = open('public/data/mnist-10k.bin', 'rb').read()
count = int.from_bytes(raw[8:12], 'little')
labels = np.frombuffer(raw[20:20 + count], dtype=np.uint8).astype(np.int64)
pixels = np.frombuffer(raw[20 + count:], dtype=np.uint8).reshape(count, 784).astype(np.float32) / 255
split = json.load(open('repro-results/torch/split.json'))
tr = np.array(split['train']); te = np.array(split['test'])
X = torch.tensor(pixels).view(-1, 1, 28, 28); Y = torch.tensor(labels)

class Cnn(nn.Module):
    def __init__(s):
        super().__init__()
        s.c0 = nn.Conv2d(1, 16, 3, 1, 1); s.c1 = nn.Conv2d(16, 32, 3, 2, 1); s.c2 = nn.Conv2d(32, 64, 3, 2, 1); s.fc = nn.Linear(64 * 49, 10)
    def forward(s, x):
        for c in (s.c0, s.c1, s.c2): x = F.gelu(c(x), approximate='tanh')
        return s.fc(x.permute(0, 2, 3, 1).reshape(x.shape[0], -1))  # NHWC flatten, as the engine

def shifted(x):
    out = torch.zeros_like(x)
    for b in range(x.shape[0]):
        dx, dy = np.random.randint(-2, 3, 2)
        src = x[b, 0]; dst = out[b, 0]
        ys, yd = (slice(0, 28 - dy), slice(dy, 28)) if dy >= 0 else (slice(-dy, 28), slice(0, 28 + dy))
        xs, xd = (slice(0, 28 - dx), slice(dx, 28)) if dx >= 0 else (slice(-dx, 28), slice(0, 28 + dx))
        dst[yd, xd] = src[ys, xs]
    return out

m = Cnn()
opt = torch.optim.Adam(m.parameters(), lr=a.lr)
per_epoch = len(tr) // a.batch
t0 = time.time()
for step in range(a.steps):
    if step % per_epoch == 0: order = np.random.permutation(len(tr))
    idx = tr[order[(step % per_epoch) * a.batch:(step % per_epoch + 1) * a.batch]]
    lr = a.lr * (step + 1) / a.warmup if step < a.warmup else a.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (step - a.warmup) / max(1, a.steps - a.warmup))))
    for g in opt.param_groups: g['lr'] = lr
    loss = F.cross_entropy(m(shifted(X[idx])), Y[idx])
    opt.zero_grad(); loss.backward(); opt.step()
    if step % 100 == 0: print(json.dumps({'step': step, 'loss': round(loss.item(), 4), 's': round(time.time() - t0, 1)}), flush=True)
seconds = time.time() - t0
m.eval()
with torch.no_grad(): acc = (m(X[te]).argmax(1) == Y[te]).float().mean().item()
print(json.dumps({'test_accuracy': round(acc, 4), 'seconds': round(seconds, 1)}), flush=True)
if a.export:
    t = {}
    for i, c in enumerate((m.c0, m.c1, m.c2)):
        t[f'classifier.conv{i}.weight'] = c.weight.detach().permute(0, 2, 3, 1).reshape(c.weight.shape[0], -1).numpy()  # [Cout, 3, 3, Cin]
        t[f'classifier.conv{i}.bias'] = c.bias.detach().numpy()
    t['classifier.fc.weight'] = m.fc.weight.detach().numpy()  # the forward already flattens NHWC
    t['classifier.fc.bias'] = m.fc.bias.detach().numpy()
    write_safetensors(a.export, t, {'trained_by': 'PyTorch replica scripts/torch/digit_cnn.py', 'steps': a.steps, 'lr': a.lr, 'seconds': round(seconds, 1),
                                    'schedule': json.dumps({'kind': 'cosine', 'warmupSteps': a.warmup, 'totalSteps': a.steps, 'minRatio': 0.02}), 'torch_args': json.dumps(vars(a)),
                                    'torch_test_accuracy': round(acc, 4)})
    print('exported', a.export, flush=True)
