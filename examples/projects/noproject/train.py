"""A project without an MLproject file: `mlship run DIR -e train.py -P k=v`
runs `python train.py --k v`. It prints what it got as JSON."""
import json
import sys

args = sys.argv[1:]
print(json.dumps({"argv": args, "pairs": dict(zip(args[0::2], args[1::2]))}), flush=True)
