# The real Elixir parser as the oracle of the extractor's tests and of
# benchmarks/kg_vs_compiler.py.
#
# Usage: elixir tests/kg/oracle.exs FILE...    (or `-`: one path a line on stdin)
#        elixir tests/kg/oracle.exs --compile FILE...   (compile them; see run/1 below)
# One BEAM for the whole run: parses every file with Code.string_to_quoted and walks the AST
# the way the compiler expands definitions, printing one tab-separated fact a line:
#
#   module  <TAB> file <TAB> Full.Name
#   def     <TAB> file <TAB> Full.Name <TAB> name <TAB> arity <TAB> kind
#   dynamic <TAB> file <TAB> line <TAB> what   (a module made at run time: not compared)
#   error   <TAB> file <TAB> line
#
# What it follows, as Kernel/Protocol do in Elixir 1.14:
# * `defmodule A.B` inside module M is `M.A.B` (written name, no alias expansion) and aliases
#   `A` to `M.A` for the rest of M, also when the defmodule sits in an expression such as
#   `{...} = defprotocol P do ... end`; at top level the name is alias-expanded.
#   `defmodule :"Elixir.A.B"` is A.B, `defmodule :foo` is :foo; names with `/` or `\` are
#   rejected by the compiler and skipped here.
# * `defimpl P, for: T` is `Module.concat(P, T)` with P and T alias-expanded, never prefixed
#   by the enclosing module; `for:` defaults to the enclosing module; one module per type of
#   `for: [A, B]`.
# * default arguments (every arity), operator definitions (`..`, `first..last//step`),
#   guards, `defoverridable` (the last definition's kind wins: def then defp is a defp).
# * `def unquote(:name)(...)` (a literal atom) and `Kernel.def` are ordinary defs; a `for` in a
#   module body whose generators are literal lists or attributes with literal values
#   (`for level <- @levels do def unquote(level)(msg) ...`) is unrolled: each element binds the
#   pattern's variables (with Elixir's own match), and `def unquote(var)` names a function.
# Skipped: `quote` blocks (their defs belong to the macro's user), other names built with
# `unquote` (not knowable without running the macro), function bodies (`def` inside a def or an ExUnit
# `test`/`setup` body is not a definition of the module: the compiler rejects it there, and
# macros like `in_module do def ... end` put it in another module), and modules named at run
# time (`defmodule name`, `Module.create/3`), reported as `dynamic`.

defmodule Oracle do
  @defs [:def, :defp, :defmacro, :defmacrop, :defguard, :defguardp, :defdelegate]
  # ExUnit macros whose block becomes a function body.
  @fun_blocks [:test, :setup, :setup_all, :property]

  def run(["-"]), do: run(IO.stream(:stdio, :line) |> Enum.map(&String.trim_trailing(&1, "\n")))

  # --compile: what the compiler itself produced (for files that compile): every module and
  # every definition in its debug info, kind as the compiler records it (a defguard is a
  # defmacro there, a defdelegate a def), generated ones (`__struct__`, `impl_for` ...) included.
  def run(["--compile" | files]) do
    for file <- files, {mod, bin} <- Code.compile_file(file) do
      out(["module", file, inspect(mod)])
      {:ok, {_, [debug_info: {:debug_info_v1, backend, data}]}} = :beam_lib.chunks(bin, [:debug_info])
      {:ok, %{definitions: defs}} = backend.debug_info(:elixir_v1, mod, data, [])
      for {{name, arity}, kind, _meta, _clauses} <- defs, do: out(["def", file, inspect(mod), name, arity, kind])
    end
  end

  def run(files) do
    Enum.each(files, fn file ->
      case Code.string_to_quoted(File.read!(file), columns: true, file: file) do
        {:ok, ast} ->
          walk(ast, %{mod: nil, aliases: %{}, defs: nil, fun: false, attrs: %{}, bind: []}, file)

        {:error, {meta, _msg, _token}} ->
          line = if is_list(meta), do: Keyword.get(meta, :line, 0), else: meta
          out(["error", file, line])
      end
    end)
  end

  defp out(fields), do: IO.puts(Enum.map_join(fields, "\t", &to_string/1))

  # Returns the (possibly updated) scope so that aliases and nested modules flow in order.
  defp walk({:__block__, _, forms}, scope, file) do
    Enum.reduce(forms, scope, fn f, acc -> walk(f, acc, file) end)
  end

  defp walk({:quote, _, _}, scope, _file), do: scope

  # `pattern = expr`: what expr defines (a nested module's alias) stays visible after it.
  # `dynamic = :name` in a module body: a variable later `def unquote(dynamic)` may read.
  defp walk({:=, _, [left, right]}, scope, file) do
    scope = walk(right, scope, file)
    scope = walk(left, scope, file)

    case left do
      {var, _, ctx} when is_atom(var) and is_atom(ctx) and scope.mod != nil and not scope.fun ->
        if Macro.quoted_literal?(right) do
          {v, _} = Code.eval_quoted(right)
          %{scope | bind: Keyword.put(scope.bind, var, v)}
        else
          %{scope | bind: Keyword.delete(scope.bind, var)}
        end

      _ ->
        scope
    end
  end

  defp walk({kind, meta, [name_ast | rest]}, scope, file) when kind in [:defmodule, :defprotocol] do
    written =
      case name_ast do
        # Kernel.defmodule/2 inside a module: the written alias, concatenated to the module
        {:__aliases__, _, [h | _] = parts} when is_atom(h) and scope.mod != nil ->
          parts |> Enum.join(".") |> String.replace_prefix("Elixir.", "")

        other ->
          module_name(other, scope)
      end

    # `defmodule Elixir.A` is absolute; a lone `defmodule Elixir` inside M is M.Elixir.
    nested? =
      scope.mod != nil and match?({:__aliases__, _, [h | _]} when is_atom(h), name_ast) and
        not match?({:__aliases__, _, [:"Elixir", _ | _]}, name_ast)

    cond do
      written == nil ->
        out(["dynamic", file, meta[:line], "defmodule #{Macro.to_string(name_ast)}"])
        walk_fun_args(rest, scope, file)

      String.contains?(written, ["/", "\\"]) ->
        scope

      true ->
        full = if nested?, do: "#{scope.mod}.#{written}", else: written
        module(full, body(rest), scope, file)
        # `defmodule B` inside A aliases B to A.B for the rest of A.
        if nested? do
          [head | _] = String.split(written, ".")
          put_in(scope.aliases[head], "#{scope.mod}.#{head}")
        else
          scope
        end
    end
  end

  defp walk({:defimpl, _, [proto_ast | rest]}, scope, file) do
    opts = Enum.find(rest, [], &Keyword.keyword?/1)
    proto = module_name(proto_ast, scope)

    fors =
      case Keyword.fetch(opts, :for) do
        {:ok, list} when is_list(list) -> Enum.map(list, &module_name(&1, scope))
        {:ok, one} -> [module_name(one, scope)]
        :error -> [scope.mod]
      end

    if proto && Enum.all?(fors) do
      Enum.each(fors, fn t -> module("#{proto}.#{t}", body(rest), scope, file) end)
    end

    scope
  end

  defp walk({{:., _, [{:__aliases__, _, [:Module]}, :create]}, meta, args}, scope, file) do
    out(["dynamic", file, meta[:line], "Module.create"])
    Enum.each(args, &walk(&1, scope, file))
    scope
  end

  defp walk({:alias, _, [target | rest]}, scope, _file) do
    case target do
      {{:., _, [base, :{}]}, _, subs} ->
        b = module_name(base, scope)

        Enum.reduce(subs, scope, fn
          {:__aliases__, _, parts}, acc when b != nil ->
            put_in(acc.aliases[to_string(List.last(parts))], "#{b}.#{Enum.join(parts, ".")}")

          _, acc ->
            acc
        end)

      _ ->
        full = module_name(target, scope)
        as = with [opts] when is_list(opts) <- rest, {:__aliases__, _, p} <- Keyword.get(opts, :as), do: Enum.join(p, "."), else: (_ -> nil)
        short = as || (full && full |> String.split(".") |> List.last())
        if full, do: put_in(scope.aliases[short], full), else: scope
    end
  end

  # `@name literal` in a module body: kept for the loops that read it
  defp walk({:@, _, [{name, _, [value]}]}, scope, file) when is_atom(name) do
    walk(value, scope, file)
    if scope.mod && not scope.fun && Macro.quoted_literal?(value),
      do: put_in(scope.attrs[name], value),
      else: scope
  end

  # A compile-time loop of literal generators in a module body: its body once per element.
  defp walk({:for, _, args}, scope, file) when is_list(args) and scope.mod != nil and not scope.fun do
    {gens, opts} = Enum.split_with(args, &match?({:<-, _, [_, _]}, &1))

    with [[do: body]] <- opts,
         true <- gens != [] and length(gens) + 1 == length(args),
         {:ok, binds} <- unroll(gens, [scope.bind], scope) do
      Enum.each(binds, fn b -> walk(body, %{scope | bind: b}, file) end)
    else
      _ -> Enum.each(args, &walk(&1, scope, file))
    end

    scope
  end

  defp walk({{:., _, [{:__aliases__, _, [:Kernel]}, kind]}, meta, args}, scope, file) when kind in @defs do
    walk({kind, meta, args}, scope, file)
  end

  defp walk({kind, _, [head | _] = args}, scope, file) when kind in @defs do
    if scope.mod && not scope.fun, do: def_head(kind, head, args, scope)
    walk_fun_args(args, scope, file)
    scope
  end

  defp walk({kind, _, args}, scope, file) when kind in @fun_blocks and is_list(args) do
    walk_fun_args(args, scope, file)
    scope
  end

  # Definitions can sit inside module-level blocks (`if`, `for`, `unless` ...): look into
  # every argument and do-block, but never into a quote.
  defp walk({_call, _, args}, scope, file) when is_list(args) do
    Enum.each(args, &walk(&1, scope, file))
    scope
  end

  defp walk(list, scope, file) when is_list(list) do
    Enum.each(list, fn
      {k, v} when is_atom(k) -> walk(v, scope, file)
      other -> walk(other, scope, file)
    end)

    scope
  end

  defp walk(_other, scope, _file), do: scope

  # A function body: modules defined in it are real (`defmodule` works anywhere), defs are not.
  defp walk_fun_args(args, scope, file) do
    walk(args, %{scope | fun: true}, file)
  end

  defp module(full, body, scope, file) do
    out(["module", file, full])
    defs = make_ref()
    Process.put(defs, [])
    walk(body, %{scope | mod: full, defs: defs, fun: false, attrs: %{}, bind: []}, file)
    # Last kind wins: only `defoverridable` lets a name/arity change kind in code that compiles.
    Process.delete(defs)
    |> Enum.reverse()
    |> Enum.reduce(%{}, fn {key, kind}, acc -> Map.put(acc, key, kind) end)
    |> Enum.each(fn {{name, arity}, kind} -> out(["def", file, full, name, arity, kind]) end)
  end

  defp body(rest) do
    Enum.find_value(rest, fn opts -> Keyword.keyword?(opts) && Keyword.get(opts, :do) end)
  end

  defp def_head(kind, head, _args, scope) do
    head =
      case head do
        {:when, _, [h | _]} -> h
        h -> h
      end

    head =
      case head do
        {{:unquote, _, [{var, _, ctx}]}, m, params} when is_atom(var) and is_atom(ctx) ->
          {{:unquote, [], [Keyword.get(scope.bind, var)]}, m, params}

        {:unquote, _, [{var, _, ctx}]} when is_atom(var) and is_atom(ctx) ->
          {:unquote, [], [Keyword.get(scope.bind, var)]}

        h ->
          h
      end

    case head do
      {{:unquote, _, [n]}, _, params} when is_atom(n) and n != nil ->
        put_def(kind, n, params, scope)

      {:unquote, _, [n]} when is_atom(n) and n != nil ->
        put_def(kind, n, [], scope)

      {:unquote, _, _} ->
        :dynamic

      {{:unquote, _, _}, _, _} ->
        :dynamic

      {name, _, params} when is_atom(name) ->
        put_def(kind, name, params, scope)

      _ ->
        :unknown
    end
  end

  defp put_def(kind, name, params, scope) do
    params = if is_list(params), do: params, else: []
    n = length(params)
    d = Enum.count(params, &match?({:\\, _, _}, &1))
    for arity <- (n - d)..n, do: Process.put(scope.defs, [{{name, arity}, kind} | Process.get(scope.defs)])
  end

  # The bindings of every iteration of literal generators, or :error.
  defp unroll([], binds, _scope), do: {:ok, binds}

  defp unroll([{:<-, _, [pat, expr]} | rest], binds, scope) do
    expr =
      case expr do
        {:@, _, [{name, _, ctx}]} when is_atom(ctx) -> Map.get(scope.attrs, name, :none)
        other -> other
      end

    if expr != :none and Macro.quoted_literal?(expr) do
      {list, _} = Code.eval_quoted(expr)

      binds =
        for b <- binds, v <- List.wrap(list) do
          # Elixir's own pattern match: non-matching elements are skipped, as `for` does
          {res, _} = Code.eval_quoted(quote(do: (case unquote(Macro.escape(v)) do
            unquote(pat) -> {:ok, binding()}
            _ -> :skip
          end)), b)

          res
        end

      unroll(rest, for({:ok, b} <- binds, do: b), scope)
    else
      :error
    end
  end

  defp module_name({:__aliases__, _, [{:__MODULE__, _, _} | rest]}, scope) do
    scope.mod && Enum.join([scope.mod | Enum.map(rest, &to_string/1)], ".")
  end

  defp module_name({:__aliases__, _, parts}, scope) do
    if Enum.all?(parts, &is_atom/1) do
      [head | tail] = Enum.map(parts, &to_string/1)

      case Map.fetch(scope.aliases, head) do
        {:ok, full} -> Enum.join([full | tail], ".")
        :error -> Enum.join([head | tail], ".") |> String.replace_prefix("Elixir.", "")
      end
    end
  end

  defp module_name({:__MODULE__, _, _}, scope), do: scope.mod
  defp module_name(atom, _scope) when is_atom(atom) and atom not in [nil, true, false], do: inspect(atom)
  defp module_name(_, _), do: nil
end

Oracle.run(System.argv())
