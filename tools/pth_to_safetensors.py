"""Convert ImageNet weights to the safetensors files weakseg loads.

    # torchvision ResNet-50 / ResNet-101 (downloads the ImageNet weights):
    python tools/pth_to_safetensors.py --torchvision resnet50 weights/resnet50.safetensors
    # any PyTorch state_dict saved with torch.save (e.g. psa's ResNet-38
    # after psa's own MXNet-to-PyTorch conversion), DataParallel prefix removed:
    python tools/pth_to_safetensors.py --pth res38.pth --strip module. weights/resnet38.safetensors

Names are kept: weakseg's ResNet uses torchvision's names and its ResNet-38
uses psa's, so the file loads into `backbone.*` as it is. Needs torch,
safetensors (and torchvision for --torchvision).
"""
import argparse

import torch
from safetensors.torch import save_file


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--torchvision", choices=["resnet50", "resnet101"])
    src.add_argument("--pth", help="a state_dict saved with torch.save")
    ap.add_argument("--strip", default="", help="prefix to remove from every name")
    ap.add_argument("out")
    a = ap.parse_args()
    if a.torchvision:
        import torchvision

        weights = {"resnet50": "IMAGENET1K_V1", "resnet101": "IMAGENET1K_V1"}[a.torchvision]
        state = getattr(torchvision.models, a.torchvision)(weights=weights).state_dict()
    else:
        state = torch.load(a.pth, map_location="cpu")
        state = state.get("state_dict", state)
    out = {}
    for name, t in state.items():
        if not torch.is_tensor(t) or name.endswith("num_batches_tracked"):
            continue
        if a.strip and name.startswith(a.strip):
            name = name[len(a.strip):]
        out[name] = t.detach().float().contiguous()
    save_file(out, a.out)
    print(f"{a.out}: {len(out)} tensors")


if __name__ == "__main__":
    main()
