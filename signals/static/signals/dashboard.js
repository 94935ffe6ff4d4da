// Minimal dashboard: active signals from the REST API and an analysis form.
const csrf = JSON.parse(document.getElementById("csrf").textContent);
const rows = document.querySelector("#signals tbody");

function renderSignal(s) {
  const tr = document.createElement("tr");
  tr.dataset.id = s.id;
  for (const v of [s.asset, s.direction, s.strategy, s.timeframe, s.entry_price, s.stop_loss,
                   s.take_profit, s.confidence.toFixed(2)]) {
    const td = document.createElement("td");
    td.textContent = v;
    tr.appendChild(td);
  }
  tr.children[1].className = s.direction;
  return tr;
}

async function loadActive() {
  const response = await fetch("/api/signals/active/");
  const page = await response.json();
  rows.replaceChildren(...page.results.map(renderSignal));
}

document.getElementById("analysis-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  const status = document.getElementById("analysis-status");
  const response = await fetch("/api/signals/request-analysis/", {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
    body: JSON.stringify({asset: form.get("asset"), timeframe: form.get("timeframe")}),
  });
  const body = await response.json();
  status.textContent = response.ok ? `queued ${body.correlation_id}` : JSON.stringify(body);
  if (response.ok) setTimeout(loadActive, 500);
});

loadActive();
