"""Run in the LLaMA-Factory venv (tests/llamafactory_env.py): load an export as its trainers do.

    python tests/llamafactory_load.py MODEL DATASET_DIR ENTRY STAGE OUT_JSON

``STAGE`` is ``sft`` (the ``sharegpt`` export) or ``dpo`` (``sharegpt_pairs``).
The same calls as LLaMA-Factory's ``run_sft`` / ``run_dpo`` make before building
a model (``llamafactory/train/{sft,dpo}/workflow.py``): ``get_train_args`` on the
arguments a YAML would hold (``dataset: ENTRY``, ``dataset_dir: DATASET_DIR``),
``load_tokenizer``, ``get_template_and_fix_tokenizer``, then ``get_dataset``,
which parses ``DATASET_DIR/dataset_info.json`` (``get_dataset_list``), reads the
files its entry names, aligns the ShareGPT columns and tags and tokenises the
rows with the chat template. Writes what came out to ``OUT_JSON``. No raydistill
import: this venv holds LLaMA-Factory's pins, not ours.
"""

import json
import sys


def main() -> None:
    model, dataset_dir, entry, stage, out_json = sys.argv[1:]
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    model_args, data_args, training_args, _, _ = get_train_args({
        "model_name_or_path": model, "stage": stage, "do_train": True,
        "finetuning_type": "lora", "dataset": entry, "dataset_dir": dataset_dir,
        "template": "qwen", "cutoff_len": 1024, "overwrite_cache": True,
        "output_dir": f"{out_json}.trainer", "report_to": "none",
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
    else:
        found["chosen"] = tokenizer.decode([t for t in first["chosen_labels"] if t != -100])
        found["rejected"] = tokenizer.decode([t for t in first["rejected_labels"] if t != -100])
    with open(out_json, "w") as out:
        json.dump(found, out)


if __name__ == "__main__":
    main()
