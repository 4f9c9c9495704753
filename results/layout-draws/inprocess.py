"""Is the per-process effect at 10^6 a memory-layout draw? A: buffers fixed for the process.
B: fresh buffers (after a random-sized spacer) for every draw, so a process averages layouts."""
import math, random, statistics as st, sys, time
import torch
torch.set_num_threads(1)
mode, draws = sys.argv[1], int(sys.argv[2])
N = 1_000_000
def make():
    spacer = torch.empty(random.randint(1, 1 << 20))  # up to 4 MiB: shifts where the next land
    x = torch.linspace(0, 1, N).unsqueeze(1); w = torch.tensor([0.7]); b = torch.tensor([0.3])
    sx, sy = torch.ones(N), torch.ones(N); out = torch.empty_like(sx)
    return spacer, (lambda: x * w + b), (lambda: torch.add(sx, sy, out=out))
def block(f, n):
    t = time.perf_counter()
    for _ in range(n): f()
    return (time.perf_counter() - t) / n
keep = make()
res = []
with torch.no_grad():
    for d in range(draws):
        if mode == 'B':
            keep = None; keep = make()
        _, w, r = keep
        for _ in range(5): w(); r()
        rs = []
        for _ in range(3):
            rs.append(block(w, 50) / block(r, 25))
        res.append(math.log(st.median(rs)))
print(f"{mode} {st.median(res):.5f} {st.stdev(res):.5f}")
