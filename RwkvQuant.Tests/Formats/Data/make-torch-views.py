# Writes torch-views.pth, the PyTorch-written test file for PthReaderTests (run once with PyTorch; the
# committed file came from Debian 12's python3-torch 1.13.1). Every value is a small exact integer or fraction.
from collections import OrderedDict
import torch

base = torch.arange(24, dtype=torch.float32).view(4, 6)
state = OrderedDict()
state['base'] = base
state['transposed'] = base.t()                  # same storage, strides (1, 6)
state['slice'] = base[1:3, 2:5]                 # same storage, offset 8, strides (6, 1)
state['f16'] = torch.arange(6, dtype=torch.float16).view(2, 3)
state['bf16'] = torch.tensor([1.5, -2.25], dtype=torch.bfloat16)
state['f64'] = torch.tensor([0.125], dtype=torch.float64)
state['i64'] = torch.tensor(7)
state['i32'] = torch.tensor([-3, 4], dtype=torch.int32)
state['u8'] = torch.tensor([1, 2, 255], dtype=torch.uint8)
state['bool'] = torch.tensor([True, False])
state['param'] = torch.nn.Parameter(torch.ones(2))
torch.save({'model': state}, 'torch-views.pth')
