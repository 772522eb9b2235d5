// A client-rendered app: nothing in the DOM until after `load`, then a data request and a render,
// like a single-page app that hydrates, schedules its first fetch and paints the result.
window.addEventListener("load", () => {
  setTimeout(async () => {
    const response = await fetch("/client/data.json");
    const projects = await response.json();
    const root = document.getElementById("root");
    const banner = document.createElement("div");
    banner.className = "banner";
    banner.textContent = `Projects (${projects.length})`;
    const cards = document.createElement("div");
    cards.className = "cards";
    for (const project of projects) {
      const card = document.createElement("div");
      card.className = "card";
      card.innerHTML = `<h2></h2><p></p>`;
      card.querySelector("h2").textContent = project.name;
      card.querySelector("p").textContent = `${project.tasks} open tasks, updated ${project.updated}`;
      cards.appendChild(card);
    }
    root.append(banner, cards);
    window.vendorChecksum = window.vendor.checksum(projects.length);
  }, 150);
});
