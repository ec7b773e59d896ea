"""Run in the verl venv (tests/support/verl_env.py): load a verl export and score it as
verl's trainer does.

    python tests/support/verl_check.py MODEL CASES_JSON OUT_JSON PARQUET [PARQUET ...]

The config is verl's own ``ppo_trainer`` composed by hydra with
``data.train_files`` listing the Parquet files (a folder is refused by verl).
The dataset is what its trainer builds: ``create_rl_dataset`` (``RLHFDataset``),
each item's ``raw_prompt`` then through the model's chat template, as verl's
agent loop does before a rollout. Each item's row is then scored
by verl's ``naive`` reward manager, built by ``load_reward_manager`` twice:
without a custom reward (verl's ``default_compute_score``) and with
``reward.custom_reward_function`` pointing at ``pkg://raydistill.export.verl_reward``.
A response is tokenised and decoded back by the manager, as after a rollout.

``CASES_JSON``: ``{problem_id: {"pass": [responses], "fail": [responses]}}``.
``OUT_JSON``: ``{"rows": n, "data_sources": {...}, "scores": [{problem_id, data_source,
kind, default, custom}]}`` (``default`` is the error text when verl raises).
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch


def config(model: str, files: list[str], custom: bool):
    import verl
    from hydra import compose, initialize_config_dir

    listed = ",".join(json.dumps(f) for f in files)
    overrides = [f"data.train_files=[{listed}]", f"data.val_files=[{listed}]",
                 f"actor_rollout_ref.model.path={model}", "data.max_prompt_length=4096",
                 "data.dataloader_num_workers=0"]
    if custom:
        overrides += ["reward.custom_reward_function.path=pkg://raydistill.export.verl_reward",
                      "reward.custom_reward_function.name=compute_score"]
    with initialize_config_dir(str(Path(verl.__file__).parent / "trainer" / "config"),
                               version_base=None):
        return compose("ppo_trainer", overrides=overrides)


def prompt_ids(tokenizer, item, data_config) -> torch.Tensor:
    """The prompt's tokens: the dataset's ``raw_prompt`` through the chat template (verl's agent
    loop does the same before a rollout)."""
    ids = tokenizer.apply_chat_template(list(item["raw_prompt"]), add_generation_prompt=True,
                                        tokenize=True, return_dict=False,
                                        **data_config.get("apply_chat_template_kwargs", {}))
    return torch.tensor(ids)


def score(manager, tokenizer, prompt, item, response: str):
    from verl import DataProto

    answer = torch.tensor(tokenizer.encode(response, add_special_tokens=False))
    data = DataProto.from_dict(
        tensors={"prompts": prompt[None], "responses": answer[None],
                 "attention_mask": torch.ones(1, len(prompt) + len(answer), dtype=torch.long)},
        non_tensors={key: np.array([item[key]], dtype=object)
                     for key in ("data_source", "reward_model", "extra_info")})
    try:
        return manager.loop.run_until_complete(manager.run_single(data))["reward_score"]
    except Exception as exc:  # noqa: BLE001 - reported to the test, which asserts on it
        return f"{type(exc).__name__}: {exc}"


def main() -> None:
    model, cases_json, out_json, *files = sys.argv[1:]
    from transformers import AutoTokenizer
    from verl.trainer.ppo.reward import load_reward_manager
    from verl.trainer.ppo.utils import create_rl_dataset

    cases = json.loads(Path(cases_json).read_text())
    tokenizer = AutoTokenizer.from_pretrained(model)
    verl_default, with_custom = config(model, files, False), config(model, files, True)
    dataset = create_rl_dataset(verl_default.data.train_files, verl_default.data, tokenizer, None)
    default_manager = load_reward_manager(verl_default, tokenizer)
    custom_manager = load_reward_manager(with_custom, tokenizer)
    found = {"rows": len(dataset), "data_sources": {}, "scores": [],
             "prompt": tokenizer.decode(prompt_ids(tokenizer, dataset[0], verl_default.data))}
    for index in range(len(dataset)):
        item = dataset[index]
        prompt = prompt_ids(tokenizer, item, verl_default.data)
        source = item["data_source"]
        found["data_sources"][source] = found["data_sources"].get(source, 0) + 1
        problem_id = item["extra_info"]["problem_id"]
        for kind, responses in cases.get(problem_id, {}).items():
            for response in responses:
                found["scores"].append({
                    "problem_id": problem_id, "data_source": source, "kind": kind,
                    "default": score(default_manager, tokenizer, prompt, item, response),
                    "custom": score(custom_manager, tokenizer, prompt, item, response)})
    Path(out_json).write_text(json.dumps(found, default=float))


if __name__ == "__main__":
    main()
