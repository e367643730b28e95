// Wiring: tabs, the API key field, keyboard shortcuts (Ctrl/Cmd+Enter runs the open
// panel, Esc stops a generation and closes the popover), the model card's refresh.
"use strict";

(() => {
  const popover = document.getElementById("alts");
  const generate = new GeneratePanel(popover);
  const compare = new ComparePanel();
  const card = new ModelCard();

  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const openPanel = () => tabs.find(t => t.getAttribute("aria-selected") === "true").dataset.panel;
  for (const tab of tabs) {
    tab.addEventListener("click", () => {
      for (const t of tabs) {
        t.setAttribute("aria-selected", String(t === tab));
        document.getElementById(t.dataset.panel).hidden = t !== tab;
      }
      generate.alternatives.hide();
    });
  }

  const key = document.getElementById("api-key");
  key.value = apiKey();
  let keyTimer;
  key.addEventListener("input", () => {
    setApiKey(key.value.trim());
    clearTimeout(keyTimer);
    keyTimer = setTimeout(() => { clearError(); card.reset(); }, 300);
  });

  document.getElementById("error-close").addEventListener("click", clearError);

  document.addEventListener("keydown", e => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      if (openPanel() === "panel-compare") compare.score(); else generate.generate();
    } else if (e.key === "Escape") {
      generate.stop();
      generate.alternatives.hide();
    }
  });

  card.start();
})();
