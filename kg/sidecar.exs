# The Elixir side of the sidecar (kg/sidecar.py starts it: `elixir kg/sidecar.exs`).
#
# One BEAM serves many requests: JSON lines over stdio, one object per line each way.
#   request:  {"id": 7, "op": "parse", "source": "...", "timeout_ms": 5000}
#   response: {"id": 7, "result": {...}}            the op ran (a syntax error is a result)
#             {"id": 7, "error": {"type": "...", "message": "..."}}   the op itself failed
# Ops: ping, parse, format, app, introspect, sleep (diagnostics: holds a request in flight).
#
# Why it looks the way it does:
# - Elixir 1.14 / OTP 25 ship no JSON library, so a small encoder/decoder lives here. The
#   encoder escapes everything outside ASCII (\uXXXX), so the byte stream is ASCII both ways
#   and no stdio encoding setting can mangle it.
# - Each request runs in its own process under a watcher: a raise becomes an error response,
#   a request that outlives its timeout_ms is killed, and the read loop never stops.
# - Responses go straight to the `user` io server in one write each (atomic per line). Request
#   processes get a StringIO as group leader, so whatever the op prints cannot corrupt the
#   protocol; Logger's console is moved to stderr for the same reason.
# - stdin closed (the Python owner exited or closed us) -> the BEAM halts.

defmodule ElixirCoder.Sidecar.JSON do
  @moduledoc false

  # ---- encoding ---------------------------------------------------------------------------
  def encode(nil), do: "null"
  def encode(true), do: "true"
  def encode(false), do: "false"
  def encode(a) when is_atom(a), do: string(Atom.to_string(a))
  def encode(b) when is_binary(b), do: string(b)
  def encode(i) when is_integer(i), do: Integer.to_string(i)
  def encode(f) when is_float(f), do: :erlang.float_to_binary(f, [:short])
  def encode(t) when is_tuple(t), do: encode(Tuple.to_list(t))

  def encode(l) when is_list(l) do
    ["[", Enum.intersperse(Enum.map(l, &encode/1), ","), "]"]
  end

  def encode(m) when is_map(m) do
    pairs = Enum.map(m, fn {k, v} -> [string(key(k)), ":", encode(v)] end)
    ["{", Enum.intersperse(pairs, ","), "}"]
  end

  def encode(other), do: string(inspect(other))

  defp key(k) when is_binary(k), do: k
  defp key(k) when is_atom(k), do: Atom.to_string(k)
  defp key(k), do: inspect(k)

  defp string(bin), do: [?", escape(bin, bin, 0, 0, []), ?"]

  # Copies runs of plain ASCII as sub-binaries (fast on multi-MB doc texts); escapes the rest.
  defp escape(<<c, rest::binary>>, orig, start, len, acc)
       when c >= 0x20 and c < 0x7F and c != ?" and c != ?\\ do
    escape(rest, orig, start, len + 1, acc)
  end

  defp escape(<<>>, orig, start, len, acc), do: [acc | binary_part(orig, start, len)]

  defp escape(<<c::utf8, rest::binary>> = all, orig, start, len, acc) do
    used = byte_size(all) - byte_size(rest)
    acc = [acc, binary_part(orig, start, len) | esc(c)]
    escape(rest, orig, start + len + used, 0, acc)
  end

  # A byte that is not UTF-8: keep the response valid, mark the spot.
  defp escape(<<_, rest::binary>>, orig, start, len, acc) do
    escape(rest, orig, start + len + 1, 0, [acc, binary_part(orig, start, len) | "\\ufffd"])
  end

  defp esc(?"), do: "\\\""
  defp esc(?\\), do: "\\\\"
  defp esc(?\n), do: "\\n"
  defp esc(?\r), do: "\\r"
  defp esc(?\t), do: "\\t"
  defp esc(c) when c < 0x10000, do: u4(c)

  defp esc(c) do
    c = c - 0x10000
    [u4(0xD800 + Bitwise.bsr(c, 10)), u4(0xDC00 + Bitwise.band(c, 0x3FF))]
  end

  defp u4(c), do: "\\u" <> String.pad_leading(Integer.to_string(c, 16), 4, "0")

  # ---- decoding ---------------------------------------------------------------------------
  def decode(bin) do
    {value, rest} = value(ws(bin))

    case ws(rest) do
      "" -> {:ok, value}
      more -> {:error, "trailing text after JSON value: #{String.slice(more, 0, 20)}"}
    end
  catch
    {:json, msg} -> {:error, msg}
  end

  defp ws(<<c, rest::binary>>) when c in [?\s, ?\t, ?\n, ?\r], do: ws(rest)
  defp ws(bin), do: bin

  defp value(<<?", rest::binary>>), do: str(rest, [])
  defp value(<<?{, rest::binary>>), do: object(ws(rest), %{})
  defp value(<<?[, rest::binary>>), do: array(ws(rest), [])
  defp value(<<"true", rest::binary>>), do: {true, rest}
  defp value(<<"false", rest::binary>>), do: {false, rest}
  defp value(<<"null", rest::binary>>), do: {nil, rest}
  defp value(<<c, _::binary>> = bin) when c == ?- or c in ?0..?9, do: number(bin)
  defp value(""), do: throw({:json, "unexpected end of JSON"})
  defp value(<<c, _::binary>>), do: throw({:json, "unexpected character #{inspect(<<c>>)}"})

  defp object(<<?}, rest::binary>>, acc), do: {acc, rest}

  defp object(<<?", rest::binary>>, acc) do
    {k, rest} = str(rest, [])

    case ws(rest) do
      <<?:, rest::binary>> ->
        {v, rest} = value(ws(rest))
        acc = Map.put(acc, k, v)

        case ws(rest) do
          <<?,, rest::binary>> -> object(ws(rest), acc)
          <<?}, rest::binary>> -> {acc, rest}
          _ -> throw({:json, "expected , or } in object"})
        end

      _ ->
        throw({:json, "expected : after object key"})
    end
  end

  defp object(_, _), do: throw({:json, "expected a string key in object"})

  defp array(<<?], rest::binary>>, []), do: {[], rest}

  defp array(bin, acc) do
    {v, rest} = value(bin)

    case ws(rest) do
      <<?,, rest::binary>> -> array(ws(rest), [v | acc])
      <<?], rest::binary>> -> {Enum.reverse([v | acc]), rest}
      _ -> throw({:json, "expected , or ] in array"})
    end
  end

  defp str(bin, acc) do
    case :binary.match(bin, ["\"", "\\"]) do
      {pos, 1} ->
        <<chunk::binary-size(pos), c, rest::binary>> = bin

        if c == ?" do
          {IO.iodata_to_binary([acc, chunk]), rest}
        else
          {piece, rest} = unescape(rest)
          str(rest, [acc, chunk, piece])
        end

      :nomatch ->
        throw({:json, "unterminated string"})
    end
  end

  defp unescape(<<?n, r::binary>>), do: {"\n", r}
  defp unescape(<<?t, r::binary>>), do: {"\t", r}
  defp unescape(<<?r, r::binary>>), do: {"\r", r}
  defp unescape(<<?b, r::binary>>), do: {"\b", r}
  defp unescape(<<?f, r::binary>>), do: {"\f", r}
  defp unescape(<<?/, r::binary>>), do: {"/", r}
  defp unescape(<<?\\, r::binary>>), do: {"\\", r}
  defp unescape(<<?", r::binary>>), do: {"\"", r}

  defp unescape(<<?u, h::binary-size(4), "\\u", l::binary-size(4), r::binary>>) do
    hi = hex(h)
    lo = hex(l)

    if hi in 0xD800..0xDBFF and lo in 0xDC00..0xDFFF do
      {<<0x10000 + Bitwise.bsl(hi - 0xD800, 10) + (lo - 0xDC00)::utf8>>, r}
    else
      {codepoint(hi), "\\u" <> l <> r}
    end
  end

  defp unescape(<<?u, h::binary-size(4), r::binary>>), do: {codepoint(hex(h)), r}
  defp unescape(_), do: throw({:json, "bad escape in string"})

  # A lone surrogate cannot be UTF-8: replace it, as Python's "replace" would.
  defp codepoint(c) when c in 0xD800..0xDFFF, do: <<0xFFFD::utf8>>
  defp codepoint(c), do: <<c::utf8>>

  defp hex(h) do
    case Integer.parse(h, 16) do
      {n, ""} -> n
      _ -> throw({:json, "bad \\u escape"})
    end
  end

  defp number(bin) do
    {text, rest} = take_number(bin, [])

    parsed =
      if String.contains?(text, [".", "e", "E"]), do: Float.parse(text), else: Integer.parse(text)

    case parsed do
      {n, ""} -> {n, rest}
      _ -> throw({:json, "bad number #{text}"})
    end
  end

  defp take_number(<<c, rest::binary>>, acc) when c in ?0..?9 or c in [?-, ?+, ?., ?e, ?E],
    do: take_number(rest, [acc, c])

  defp take_number(rest, acc), do: {IO.iodata_to_binary(acc), rest}
end

defmodule ElixirCoder.Sidecar.Introspect do
  @moduledoc false
  # What the installed BEAM knows about its applications and modules, as plain maps.

  def app(name) do
    app = String.to_atom(name)

    case :application.load(app) do
      r when r == :ok or (is_tuple(r) and elem(r, 0) == :error and elem(elem(r, 1), 0) == :already_loaded) ->
        {:ok, vsn} = :application.get_key(app, :vsn)
        {:ok, mods} = :application.get_key(app, :modules)
        desc = case :application.get_key(app, :description) do
          {:ok, d} -> List.to_string(d)
          _ -> nil
        end

        %{found: true, app: name, version: List.to_string(vsn), description: desc,
          modules: mods |> Enum.map(&mod_name/1) |> Enum.sort()}

      {:error, reason} ->
        %{found: false, app: name, message: "application #{name} is not installed (#{format_reason(reason)})"}
    end
  end

  defp format_reason({'no such file or directory', file}), do: "no #{file} in the code path"
  defp format_reason(other), do: inspect(other)

  def mod_name(mod) do
    case Atom.to_string(mod) do
      "Elixir." <> rest -> rest
      erl -> ":" <> erl
    end
  end

  def mod_atom(":" <> erl), do: String.to_atom(erl)
  def mod_atom(name), do: String.to_atom("Elixir." <> name)

  def modules(names) do
    Enum.map(names, fn name ->
      mod = mod_atom(name)

      case Code.ensure_loaded(mod) do
        {:module, ^mod} ->
          # One odd module must not cost the whole batch.
          try do
            module(mod, name)
          rescue
            e -> %{name: name, missing: true, reason: "introspection failed: " <> Exception.message(e)}
          end

        {:error, reason} ->
          %{name: name, missing: true, reason: inspect(reason)}
      end
    end)
  end

  defp module(mod, name) do
    # Not "exports __info__/1": :elixir_bootstrap does, and is Erlang.
    elixir? = String.starts_with?(Atom.to_string(mod), "Elixir.") and function_exported?(mod, :__info__, 1)
    {moduledoc, docs} = docs(mod)
    specs = specs(&Code.Typespec.fetch_specs/1, mod)
    cb_specs = specs(&Code.Typespec.fetch_callbacks/1, mod)
    deprecated = if elixir?, do: Map.new(mod.__info__(:deprecated)), else: %{}

    {funs, macros} =
      if elixir? do
        {mod.__info__(:functions), mod.__info__(:macros)}
      else
        {mod.module_info(:exports), []}
      end

    # Exports the compiler adds to every Elixir module (__info__/1, module_info/0,1, and
    # behaviour_info/1 for behaviours) are real functions a call can name; marked hidden below.
    generated =
      if elixir?,
        do: Enum.reject(mod.module_info(:exports), fn {f, _} = fa -> fa in funs or String.starts_with?(Atom.to_string(f), "MACRO-") end),
        else: []

    functions =
      Enum.map(funs ++ generated, &{:def, &1}) ++ Enum.map(macros, &{:defmacro, &1})

    functions =
      for {kind, {f, a}} <- Enum.sort_by(functions, fn {_, fa} -> fa end) do
        doc_kind = if kind == :def, do: :function, else: :macro
        {doc, meta} = Map.get(docs, {doc_kind, f, a}, {:none, %{}})
        dep = meta[:deprecated] || deprecated[{f, a}] || erlang_deprecation(elixir?, mod, f, a)
        spec_key = if kind == :def, do: {f, a}, else: {:"MACRO-#{f}", a + 1}

        %{name: Atom.to_string(f), arity: a, kind: kind,
          operator: elixir? and Macro.operator?(f, a),
          doc: doc_text(doc), doc_hidden: doc == :hidden or {f, a} in generated,
          deprecated: dep && to_string(dep),
          delegate_to: delegate(meta[:delegate_to]),
          guard: meta[:guard] == true,
          specs: Enum.map(Map.get(specs, spec_key, []), &spec_text(f, kind, &1))}
      end

    optional =
      if function_exported?(mod, :behaviour_info, 1),
        do: MapSet.new(mod.behaviour_info(:optional_callbacks)),
        else: MapSet.new()

    callbacks =
      if function_exported?(mod, :behaviour_info, 1) do
        for {f, a} <- Enum.sort(mod.behaviour_info(:callbacks)) do
          {kind, name, arity} =
            case Atom.to_string(f) do
              "MACRO-" <> m -> {:macrocallback, m, a - 1}
              n -> {:callback, n, a}
            end

          {doc, _meta} = Map.get(docs, {kind, String.to_atom(name), arity}, {:none, %{}})

          %{name: name, arity: arity, kind: kind, optional: MapSet.member?(optional, {f, a}),
            doc: doc_text(doc), doc_hidden: doc == :hidden,
            specs: Enum.map(Map.get(cb_specs, {f, a}, []), &spec_text(String.to_atom(name), kind, &1))}
        end
      else
        []
      end

    attrs = mod.module_info(:attributes)
    behaviours = Keyword.get_values(attrs, :behaviour) ++ Keyword.get_values(attrs, :behavior)

    impl =
      if elixir? and function_exported?(mod, :__impl__, 1) do
        %{protocol: mod_name(mod.__impl__(:protocol)), for: mod_name(mod.__impl__(:for))}
      end

    %{name: name, erlang: not elixir?,
      moduledoc: doc_text(moduledoc), moduledoc_hidden: moduledoc == :hidden,
      functions: functions, callbacks: callbacks,
      behaviours: behaviours |> List.flatten() |> Enum.map(&mod_name/1) |> Enum.uniq(),
      protocol: elixir? and function_exported?(mod, :__protocol__, 1),
      impl: impl}
  end

  defp docs(mod) do
    case Code.fetch_docs(mod) do
      {:docs_v1, _, _, _, moduledoc, _, entries} ->
        {moduledoc, Map.new(entries, fn {key, _anno, _sig, doc, meta} -> {key, {doc, meta}} end)}

      _ ->
        {:none, %{}}
    end
  end

  defp doc_text(%{} = by_lang) when map_size(by_lang) > 0,
    do: Map.get(by_lang, "en") || by_lang |> Map.values() |> hd()

  defp doc_text(_), do: nil

  defp specs(fetch, mod) do
    case fetch.(mod) do
      {:ok, list} -> Map.new(list)
      :error -> %{}
    end
  end

  # The text a @spec / @callback would have in source (without the attribute).
  defp spec_text(name, kind, spec) do
    spec = if kind in [:defmacro, :macrocallback], do: drop_env(spec), else: spec
    name |> Code.Typespec.spec_to_quoted(spec) |> Macro.to_string()
  rescue
    _ -> inspect(spec)
  end

  # A macro's spec carries the caller's env as a first argument the user never writes.
  defp drop_env({:type, l, :fun, [{:type, l2, :product, [_env | args]}, ret]}),
    do: {:type, l, :fun, [{:type, l2, :product, args}, ret]}

  defp drop_env({:type, l, :bounded_fun, [fun, cons]}),
    do: {:type, l, :bounded_fun, [drop_env(fun), cons]}

  defp drop_env(other), do: other

  defp delegate({m, f, a}), do: "#{mod_name(m)}.#{f}/#{a}"
  defp delegate(_), do: nil

  defp erlang_deprecation(true, _mod, _f, _a), do: nil

  defp erlang_deprecation(false, mod, f, a) do
    case :otp_internal.obsolete(mod, f, a) do
      {:deprecated, msg} when is_list(msg) -> List.to_string(msg)
      {:deprecated, {m, f2, a2}} -> "use #{mod_name(m)}.#{f2}/#{a2} instead"
      {:deprecated, other} -> inspect(other)
      _ -> nil
    end
  rescue
    _ -> nil
  end
end

defmodule ElixirCoder.Sidecar do
  @moduledoc false
  alias ElixirCoder.Sidecar.{Introspect, JSON}

  @default_timeout 60_000

  def main do
    # Anything a library logs must not land in the protocol stream.
    try do
      Logger.configure_backend(:console, device: :standard_error)
    rescue
      _ -> :ok
    end

    reply(%{id: nil, ready: true, pid: System.pid(), elixir: System.version(),
            otp: System.otp_release()})
    loop(MapSet.new())
  end

  # `active` holds the monitors of running requests: at end of input they get to finish
  # (each within its own timeout) before the BEAM halts.
  defp loop(active) do
    active = reap(active)

    case IO.binread(:stdio, :line) do
      data when is_binary(data) -> loop(dispatch(String.trim_trailing(data), active))
      _eof_or_error -> drain(active)
    end
  end

  defp reap(active) do
    receive do
      {:DOWN, ref, :process, _, _} -> reap(MapSet.delete(active, ref))
    after
      0 -> active
    end
  end

  defp drain(active) do
    Enum.each(active, fn ref -> receive do: ({:DOWN, ^ref, :process, _, _} -> :ok) end)
    System.halt(0)
  end

  defp dispatch(line, active) do
    case dispatch(line) do
      {:running, ref} -> MapSet.put(active, ref)
      _ -> active
    end
  end

  defp dispatch(""), do: :ok

  defp dispatch(line) do
    case JSON.decode(line) do
      {:ok, %{"id" => id, "op" => op} = req} when is_binary(op) ->
        timeout = req["timeout_ms"] || @default_timeout
        {_pid, ref} = spawn_monitor(fn -> watch(id, op, req, timeout) end)
        {:running, ref}

      {:ok, %{} = req} ->
        reply(%{id: req["id"], error: %{type: "bad_request", message: "a request needs an id and an op"}})

      {:ok, _} ->
        reply(%{id: nil, error: %{type: "bad_request", message: "a request is a JSON object"}})

      {:error, msg} ->
        reply(%{id: nil, error: %{type: "bad_json", message: msg}})
    end
  end

  defp watch(id, op, req, timeout) do
    me = self()

    {pid, ref} =
      spawn_monitor(fn ->
        {:ok, dev} = StringIO.open("")
        Process.group_leader(self(), dev)

        result =
          try do
            {:ok, handle(op, req)}
          rescue
            e -> {:error, %{type: "exception", message: Exception.message(e),
                            detail: Exception.format(:error, e, __STACKTRACE__)}}
          catch
            kind, value -> {:error, %{type: "exception", message: "#{kind}: #{inspect(value)}"}}
          end

        send(me, {self(), result})
      end)

    receive do
      {^pid, {:ok, result}} ->
        Process.demonitor(ref, [:flush])
        reply(%{id: id, result: result})

      {^pid, {:error, err}} ->
        Process.demonitor(ref, [:flush])
        reply(%{id: id, error: err})

      {:DOWN, ^ref, _, _, reason} ->
        reply(%{id: id, error: %{type: "crash", message: "the request process died: #{inspect(reason)}"}})
    after
      timeout ->
        Process.exit(pid, :kill)
        reply(%{id: id, error: %{type: "timeout", message: "#{op} ran longer than #{timeout} ms and was stopped"}})
    end
  end

  defp reply(map), do: IO.binwrite(:user, [JSON.encode(map), ?\n])

  # ---- ops ----------------------------------------------------------------------------------
  defp handle("ping", _req), do: %{pong: true}

  defp handle("parse", req) do
    source = Map.fetch!(req, "source")
    file = req["file"] || "nofile"

    case Code.string_to_quoted(source, columns: true, file: file) do
      {:ok, _ast} -> %{ok: true}
      {:error, {meta, info, token}} -> syntax_error(meta, info, token)
    end
  end

  defp handle("format", req) do
    source = Map.fetch!(req, "source")
    opts = if n = req["line_length"], do: [line_length: n], else: []

    try do
      %{ok: true, formatted: IO.iodata_to_binary([Code.format_string!(source, opts), ?\n])}
    rescue
      e in [SyntaxError, TokenMissingError] ->
        %{ok: false, line: e.line || 0, column: Map.get(e, :column) || 0, message: e.description}
    end
  end

  defp handle("app", req), do: Introspect.app(Map.fetch!(req, "app"))
  defp handle("introspect", req), do: %{modules: Introspect.modules(Map.fetch!(req, "modules"))}

  defp handle("sleep", req) do
    Process.sleep(Map.get(req, "ms", 1000))
    %{slept: true}
  end

  defp handle(op, _req), do: raise(ArgumentError, "unknown op #{inspect(op)}")

  defp syntax_error(meta, info, token) do
    {line, column} =
      case meta do
        m when is_list(m) -> {Keyword.get(m, :line, 0), Keyword.get(m, :column, 0)}
        l when is_integer(l) -> {l, 0}
        _ -> {0, 0}
      end

    message =
      case info do
        {prefix, suffix} -> "#{prefix}#{token}#{suffix}"
        text -> "#{text}#{token}"
      end

    %{ok: false, line: line, column: column, message: message}
  end
end

ElixirCoder.Sidecar.main()
