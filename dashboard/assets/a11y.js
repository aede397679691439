// Keyboard and screen-reader support that Dash's components leave out.

// One choice of a group of buttons: the value picked (the clicked button's id after its prefix), then per button
// its state attribute and its class, then, for tabs, whether each panel is hidden.
// The values are the buttons the callback listens to (dashboard.callbacks registers one n_clicks input per button,
// in the order of dashboard.layout.TABS or dashboard.live_view.WINDOWS), so the Python side is their one list.
function chooseOne(prefix, className, withPanels) {
  var context = window.dash_clientside.callback_context;
  var triggered = context.triggered;
  var values = context.inputs_list
    .filter(function (input) { return input.property === "n_clicks" && input.id.indexOf(prefix) === 0; })
    .map(function (input) { return input.id.slice(prefix.length); });
  var source = triggered.length ? triggered[0].prop_id.split(".")[0] : "";
  var clicked = source.indexOf(prefix) === 0 ? source.slice(prefix.length) : null;
  // A button's click names its value; a request from the server (tab-request) carries it.
  var chosen = values.indexOf(clicked) >= 0 ? clicked : (triggered.length && triggered[0].value) || values[0];
  var out = [chosen]
    .concat(values.map(function (v) { return v === chosen ? "true" : "false"; }))
    .concat(values.map(function (v) { return v === chosen ? className + " selected" : className; }));
  return withPanels ? out.concat(values.map(function (v) { return v !== chosen; })) : out;
}

window.dash_clientside = Object.assign({}, window.dash_clientside, {
  tabs: {
    select: function () {
      // Charts drawn while their panel was hidden take their size again once it shows.
      setTimeout(function () { window.dispatchEvent(new Event("resize")); }, 50);
      return chooseOne("tab-", "tab", true);
    },
  },
  window: { select: function () { return chooseOne("live-window-", "window-button", false); } },
});

// The arrow keys, Home and End move between tabs, as the WAI-ARIA tabs pattern has it (Tab still reaches each one).
document.addEventListener("keydown", function (event) {
  var tab = event.target;
  if (!tab || tab.getAttribute("role") !== "tab") {
    return;
  }
  var tabs = Array.prototype.slice.call(tab.parentNode.querySelectorAll('[role="tab"]'));
  var index = tabs.indexOf(tab);
  var next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 }[event.key];
  if (next === undefined) {
    return;
  }
  event.preventDefault();
  var target = tabs[(next + tabs.length) % tabs.length];
  target.focus();
  target.click();
});

// Inputs Dash renders without a name: dcc.Upload's file input, and dcc.Dropdown's focus input, which takes the Tab
// key and hands the focus on to the picker, yet is aria-hidden (a focusable element hidden from screen readers).
// Each takes the name its container gives in data-accessible-name.
function nameInputs() {
  document.querySelectorAll("[data-accessible-name]").forEach(function (box) {
    box.querySelectorAll('input[type="file"]:not([aria-label]), .dash-dropdown-focus-target[aria-hidden]').forEach(function (input) {
      input.removeAttribute("aria-hidden");
      input.setAttribute("aria-label", box.getAttribute("data-accessible-name"));
    });
  });
}
new MutationObserver(nameInputs).observe(document.documentElement, { childList: true, subtree: true });
