// Staff: each strategy's global configuration (enabled, parameters) in a form built from its
// schema (/api/strategies/), saved through /api/strategy-configs/; and the watchlist. The API
// validates: its messages are shown beside the field they name.
"use strict";

let configs = [];

// ---- strategy forms (fields and errors: common.js) ----

function strategyForm(strategy) {
  const global = configs.find((c) => c.strategy === strategy.name && !c.asset && !c.timeframe);
  const stored = global?.parameters || {};
  const enabledId = `enabled-${strategy.name}`;
  const form = element("form", {className: "strategy-form card-inner", novalidate: "",
                                dataset: {strategy: strategy.name}});
  const enabled = element("input", {type: "checkbox", name: "enabled", id: enabledId});
  enabled.checked = global ? global.enabled : true;
  const parameters = element("fieldset", {},
    element("legend", {}, _("Parameters")),
    ...Object.entries(strategy.parameters).map(([name, spec]) => parameterInput(name, spec, stored[name])));
  const status = element("span", {className: "saved", role: "status"});
  form.append(
    element("h3", {}, show.strategy(strategy.name)),
    element("p", {className: "help"}, strategy.description),
    element("label", {for: enabledId}, enabled, " ", _("Enabled")),
    element("p", {className: "field-error", dataset: {errorFor: "enabled"}}),
    parameters,
    element("p", {className: "field-error", dataset: {errorFor: "non_field_errors"}, role: "alert"}),
    element("button", {type: "submit"}, _("Save")), " ", status,
  );
  form.addEventListener("submit", (event) => saveStrategy(event, strategy, form, status));
  return form;
}

async function saveStrategy(event, strategy, form, status) {
  event.preventDefault();
  clearErrors(form);
  status.textContent = "";
  const parameters = {};
  for (const [name, spec] of Object.entries(strategy.parameters)) {
    const value = parameterValue(spec, form.elements[`parameter:${name}`]);
    if (value !== undefined && value !== spec.default) parameters[name] = value;
  }
  const data = {enabled: form.elements.enabled.checked, parameters};
  const global = configs.find((c) => c.strategy === strategy.name && !c.asset && !c.timeframe);
  try {
    const saved = global
      ? await sendJson(`${config.urls.strategy_configs}${global.id}/`, "PATCH", data)
      : await sendJson(config.urls.strategy_configs, "POST", {strategy: strategy.name, ...data});
    configs = configs.filter((c) => c.id !== saved.id).concat([saved]);
    status.textContent = _("Saved.");
  } catch (error) {
    if (error.status === 400) showErrors(form, error.body);
    else $('[data-error-for="non_field_errors"]', form).textContent = errorText(error);
  }
}

function renderScoped() {
  const tbody = $("#scoped-configs tbody");
  tbody.replaceChildren();
  const scoped = configs.filter((c) => c.asset || c.timeframe);
  for (const c of scoped) {
    const row = tbody.insertRow();
    cell(row, _("Strategy"), show.strategy(c.strategy));
    cell(row, _("Asset"), c.asset || _("any"));
    cell(row, _("Timeframe"), c.timeframe || _("any"));
    cell(row, _("Enabled"), c.enabled ? _("yes") : _("no"));
    cell(row, _("Parameters"), JSON.stringify(c.parameters));
  }
  if (!scoped.length) {
    cell(tbody.insertRow(), "", _("None."), "muted").colSpan = 5;
  }
}

async function loadStrategies() {
  const [registered, stored] = await Promise.all([
    api(config.urls.strategies), allPages(config.urls.strategy_configs),
  ]);
  configs = stored;
  $("#strategy-forms").replaceChildren(...registered.map(strategyForm));
  renderScoped();
}

// ---- watchlist ----

async function loadWatchlist() {
  const entries = await allPages(config.urls.watchlist);
  const tbody = $("#watchlist tbody");
  tbody.replaceChildren();
  for (const entry of entries) {
    const row = tbody.insertRow();
    row.dataset.id = entry.id;
    row.dataset.asset = entry.asset;
    cell(row, _("Asset"), entry.asset);
    cell(row, _("Timeframe"), entry.timeframe);
    const toggle = element("input", {type: "checkbox",
      "aria-label": format(_("%(asset)s %(timeframe)s enabled"), entry)});
    toggle.checked = entry.enabled;
    toggle.addEventListener("change", () => updateEntry(entry, {enabled: toggle.checked}));
    cell(row, _("Enabled"), toggle);
    cell(row, _("Strategies"), entry.strategies.length
      ? entry.strategies.map(show.strategy).join(", ") : _("all enabled"));
    const remove = element("button", {type: "button", className: "danger",
      "aria-label": format(_("Remove %(asset)s %(timeframe)s"), entry)}, _("Remove"));
    remove.addEventListener("click", () => removeEntry(entry));
    cell(row, "", remove);
  }
  if (!entries.length) cell(tbody.insertRow(), "", _("The watchlist is empty."), "muted").colSpan = 5;
}

async function updateEntry(entry, changes) {
  $("#watchlist-error").textContent = "";
  try {
    await sendJson(`${config.urls.watchlist}${entry.id}/`, "PATCH", changes);
  } catch (error) {
    $("#watchlist-error").textContent = errorText(error);
  }
  await loadWatchlist();
}

async function removeEntry(entry) {
  $("#watchlist-error").textContent = "";
  try {
    await api(`${config.urls.watchlist}${entry.id}/`, {method: "DELETE"});
  } catch (error) {
    $("#watchlist-error").textContent = errorText(error);
  }
  await loadWatchlist();
  $("#watchlist-form").elements.asset.focus();
}

async function addEntry(event) {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  try {
    await sendJson(config.urls.watchlist, "POST", {
      asset: form.elements.asset.value.trim().toUpperCase(), timeframe: form.elements.timeframe.value,
    });
    form.elements.asset.value = "";
    await loadWatchlist();
  } catch (error) {
    if (error.status === 400) showErrors(form, error.body);
    else $('[data-error-for="non_field_errors"]', form).textContent = errorText(error);
  }
}

$("#watchlist-form").addEventListener("submit", addEntry);
loadStrategies().catch((error) => { $("#strategy-forms").textContent = errorText(error); });
loadWatchlist().catch((error) => { $("#watchlist-error").textContent = errorText(error); });
