"""Run in the LLaMA-Factory venv (tests/support/llamafactory_env.py): load an export as
its trainers do.

    python tests/support/llamafactory_load.py MODEL TRAINING_YAML OUT_JSON

``TRAINING_YAML`` is the training file the export wrote beside its data
(``llamafactory_sft.yaml`` for ``sharegpt``, ``llamafactory_dpo.yaml`` for
``sharegpt_pairs``), read as ``llamafactory-cli train`` reads it, with
``model_name_or_path=MODEL`` and ``cutoff_len`` lifted so the rows' true lengths
show. The same calls as LLaMA-Factory's ``run_sft`` / ``run_dpo`` make before
building a model (``llamafactory/train/{sft,dpo}/workflow.py``): ``get_train_args``,
``load_tokenizer``, ``get_template_and_fix_tokenizer``, then ``get_dataset``,
which parses ``dataset_dir/dataset_info.json``, reads the files its entry names,
aligns the ShareGPT columns and tags and tokenises the rows with the chat
template. Writes what came out to ``OUT_JSON``, with the longest row in tokens.
No raydistill import: this venv holds LLaMA-Factory's pins, not ours.
"""

import json
import sys


def main() -> None:
    model, training_yaml, out_json = sys.argv[1:]
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer
    from omegaconf import OmegaConf

    args = OmegaConf.to_container(OmegaConf.load(training_yaml))
    stage = args["stage"]
    model_args, data_args, training_args, _, _ = get_train_args({
        **args, "model_name_or_path": model, "cutoff_len": 10**6,
        "output_dir": f"{out_json}.trainer",
    })
    tokenizer_module = load_tokenizer(model_args)
    tokenizer = tokenizer_module["tokenizer"]
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    loaded = get_dataset(template, model_args, data_args, training_args,
                         stage="sft" if stage == "sft" else "rm", **tokenizer_module)
    train = loaded["train_dataset"]
    first = train[0]
    found = {"rows": len(train), "columns": sorted(train.column_names)}
    if stage == "sft":
        labels = [t for t in first["labels"] if t != -100]
        found["prompt"] = tokenizer.decode(first["input_ids"][: len(first["input_ids"])
                                                                - len(labels)])
        found["target"] = tokenizer.decode(labels)
        found["longest"] = max(len(ids) for ids in train["input_ids"])
    else:
        found["prompt"] = tokenizer.decode([t for t, label in zip(
            first["chosen_input_ids"], first["chosen_labels"], strict=True) if label == -100])
        found["chosen"] = tokenizer.decode([t for t in first["chosen_labels"] if t != -100])
        found["rejected"] = tokenizer.decode([t for t in first["rejected_labels"] if t != -100])
        found["longest"] = max(len(ids) for column in ("chosen_input_ids", "rejected_input_ids")
                               for ids in train[column])
    with open(out_json, "w") as out:
        json.dump(found, out)


if __name__ == "__main__":
    main()
